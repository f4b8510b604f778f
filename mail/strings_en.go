package mail

// catalog holds every user-facing string of the emails, keyed by message.
// Keys are "<kind>.<part>" for one kind of email and "common.<part>",
// "unit.<unit>.<plural form>", "device.<part>" and "format.<part>" for
// shared ones. Values may hold placeholders that Render fills in:
//
//	{product} {code} {expires} {when} {device} {ip} {until} {support} {to} {n} {a} {b} {browser} {os}
//
// Templates only look strings up here, so another language is one more
// catalog with the same keys (and, for plurals beyond English's one/other,
// a plural rule to pick the form).
type catalog map[string]string

// english is the default and, for now, only language.
var english = catalog{
	"lang": "en",

	// Shared by several kinds.
	"common.fallback":          "If the button does not work, copy this link into your browser:",
	"common.expires_code":      "The code expires in {expires}.",
	"common.expires_link":      "The link expires in {expires}.",
	"common.expires_both":      "The code and the link expire in {expires}.",
	"common.footer_sent_to":    "This email was sent to {to}.",
	"common.footer_support":    "Need help? Contact {support}.",
	"common.footer_no_support": "Need help? Contact the administrator of {product}.",

	// VerifyEmail: proves the address belongs to the user.
	"verify_email.subject_code": "Your {product} verification code: {code}",
	"verify_email.subject":      "Verify your email address for {product}",
	"verify_email.heading":      "Verify your email address",
	"verify_email.intro_code":   "Enter this code in {product} to verify your email address:",
	"verify_email.intro_link":   "Use the button below to verify your email address for {product}.",
	"verify_email.or_link":      "Or verify it with one click:",
	"verify_email.button":       "Verify email address",
	"verify_email.ignore":       "If you did not sign up for {product}, you can ignore this email.",

	// SignIn: a one-time code or magic link to sign in.
	"sign_in.subject_code": "Your {product} sign-in code: {code}",
	"sign_in.subject":      "Sign in to {product}",
	"sign_in.heading":      "Sign in to {product}",
	"sign_in.intro_code":   "Enter this code to finish signing in to {product}:",
	"sign_in.intro_link":   "Use the button below to sign in to {product}.",
	"sign_in.or_link":      "Or sign in with one click:",
	"sign_in.button":       "Sign in",
	"sign_in.ignore":       "If you did not try to sign in, ignore this email, and never share this code with anyone.",

	// ResetPassword: the code is kept out of the subject, where
	// notification previews and lock screens would show it.
	"reset_password.subject":    "Reset your {product} password",
	"reset_password.heading":    "Reset your password",
	"reset_password.intro_code": "Enter this code in {product} to choose a new password:",
	"reset_password.intro_link": "Use the button below to choose a new password for your {product} account.",
	"reset_password.or_link":    "Or choose it with one click:",
	"reset_password.button":     "Choose a new password",
	"reset_password.ignore":     "If you did not ask to reset your password, ignore this email: your password stays the same.",

	// NewSignIn: tells the owner their account was signed in to.
	"new_sign_in.subject":        "New sign-in to your {product} account",
	"new_sign_in.heading":        "New sign-in to your account",
	"new_sign_in.intro":          "Your {product} account was just signed in to.",
	"new_sign_in.when":           "When",
	"new_sign_in.device":         "Device",
	"new_sign_in.ip":             "IP address",
	"new_sign_in.was_you":        "If this was you, there is nothing to do.",
	"new_sign_in.not_you":        "If this was not you, reset your password now to keep your account safe.",
	"new_sign_in.not_you_nolink": "If this was not you, reset your password in {product} now.",
	"new_sign_in.reset_button":   "Reset password",

	// AccountLocked: the account cannot be signed in to for now.
	"account_locked.subject":      "Your {product} account is locked",
	"account_locked.heading":      "Your account is locked",
	"account_locked.intro":        "Your {product} account has been locked to keep it safe. Nobody can sign in to it while it is locked.",
	"account_locked.until":        "It unlocks by itself on {until}.",
	"account_locked.indefinite":   "It stays locked until an administrator unlocks it.",
	"account_locked.reset":        "If you think someone else knows your password, choose a new one:",
	"account_locked.reset_button": "Reset password",
	"account_locked.help":         "If you need help, or did not expect this, contact {support}.",
	"account_locked.help_admin":   "If you need help, or did not expect this, contact the administrator of {product}.",

	// SignUpAttempt: someone tried to sign up with an address that already
	// has an account. Sign-up answers the same way whether or not the
	// address is known; this email is where the owner learns the truth.
	"sign_up_attempt.subject":      "Someone tried to sign up to {product} with your email address",
	"sign_up_attempt.heading":      "You already have an account",
	"sign_up_attempt.intro":        "Someone, probably you, just tried to sign up to {product} with this email address. It already has an account, so no new one was created.",
	"sign_up_attempt.sign_in":      "Sign in instead:",
	"sign_up_attempt.button":       "Sign in",
	"sign_up_attempt.forgot":       "Forgot your password? Choose a new one:",
	"sign_up_attempt.ignore":       "If this was not you, you can ignore this email: nothing has changed on your account.",
	"sign_up_attempt.reset_button": "Reset password",

	// Durations, like "10 minutes" or "1 hour and 30 minutes".
	"unit.second.one":   "{n} second",
	"unit.second.other": "{n} seconds",
	"unit.minute.one":   "{n} minute",
	"unit.minute.other": "{n} minutes",
	"unit.hour.one":     "{n} hour",
	"unit.hour.other":   "{n} hours",
	"unit.day.one":      "{n} day",
	"unit.day.other":    "{n} days",
	"unit.pair":         "{a} and {b}",

	// Devices, summarised from the user agent.
	"device.browser_on_os": "{browser} on {os}",
	"device.unknown":       "Unknown device",

	// A Go time layout; times are shown in UTC, since the server does not
	// know the reader's time zone.
	"format.datetime": "Monday 2 January 2006, 15:04 UTC",
}
