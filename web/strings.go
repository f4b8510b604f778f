package web

import "fmt"

// en holds every user-facing string of the pages, keyed by message, so a
// language is added by adding one more table.
var en = map[string]string{
	"action.continue": "Continue",
	"action.sign_in":  "Sign in",

	"request.continue": "to continue to %s",

	"field.email":            "Email address",
	"field.password":         "Password",
	"field.new_password":     "New password",
	"field.current_password": "Current password",
	"field.first_name":       "First name",
	"field.last_name":        "Last name",
	"field.username":         "Username",
	"field.image_url":        "Profile image URL",
	"field.code":             "Verification code",
	"field.optional":         "(optional)",

	"password.hint": "At least 8 characters. A few unrelated words make a strong password.",

	"signin.title":       "Sign in",
	"signin.no_account":  "No account yet?",
	"signin.not_you":     "Use another email",
	"signin.forgot":      "Forgot password?",
	"signin.or":          "or",
	"signin.email_me":    "Email me a sign-in code and link",
	"signin.again":       "For your security, sign in again to make this change.",
	"signin.failed":      "That email and password do not match an account that can sign in.",
	"signin.check_email": "Check your email",

	"code.sent":            "If %s has an account, we sent it a 6-digit code and a link. Enter the code, or open the link on any device.",
	"code.sent_verify":     "We sent a 6-digit code and a link to %s. Enter the code, or open the link on any device.",
	"code.your_address":    "your address",
	"code.no_email":        "No email? Check your spam folder, or go back and ask for a new one. Only the newest email works.",
	"code.wrong":           "That code is wrong or has expired. Check the newest email, or ask for a new one.",
	"code.too_many":        "Too many wrong codes. Ask for a new email.",
	"link.confirm_sign_in": "Confirm sign-in",
	"link.invalid":         "This link is invalid, has expired or was already used. Ask for a new email.",
	"link.elsewhere":       "This link was requested from another browser (%s, %s). You are signing in here.",
	"link.elsewhere_near":  "This link was requested from another browser (%s, %s) near %s. You are signing in here.",
	"link.app_other":       "You are signed in. To finish signing in to %s, go back to the browser where you started, or enter the code there.",

	"signup.title":             "Create your account",
	"signup.submit":            "Create account",
	"signup.have_account":      "Already have an account?",
	"signup.agree":             "By creating an account you agree to the terms and privacy policy linked below.",
	"signup.disabled":          "Sign-up is closed. Ask an administrator for an account.",
	"signup.name_required":     "Enter your first and last name.",
	"signup.username_required": "Choose a username.",

	"verify.title":   "Verify your email",
	"verify.confirm": "Verify my email",
	"verify.done":    "Your email address is verified.",

	"reset.title": "Reset your password",
	"reset.intro": "Enter your email address and we will send you a code and a link to choose a new password.",
	"reset.send":  "Send reset email",
	"reset.back":  "Back to sign in",
	"reset.save":  "Save new password",
	"reset.done":  "Your password was changed and your other sessions were signed out.",

	"locked.for":     "This account is locked after too many failed attempts. Try again after %s, or reset your password.",
	"locked.forever": "This account is locked after too many failed attempts. Contact support to unlock it.",

	"limit.slow_down": "Too many attempts. Wait ten minutes, then try again.",
	"mail.not_sent":   "We could not send the email. Try again in a moment.",

	"account.title":           "Your account",
	"account.profile":         "Profile",
	"account.emails":          "Email addresses",
	"account.security":        "Password",
	"account.sessions":        "Signed-in devices",
	"account.apps":            "Connected applications",
	"account.save":            "Save profile",
	"account.saved":           "Saved.",
	"account.primary":         "Primary",
	"account.verified":        "Verified",
	"account.unverified":      "Unverified",
	"account.verify":          "Verify",
	"account.make_primary":    "Make primary",
	"account.remove":          "Remove",
	"account.add_email":       "Add an email address",
	"account.add":             "Add",
	"account.email_added":     "We sent a code to the new address. Enter it to verify the address.",
	"account.email_removed":   "Email address removed.",
	"account.primary_set":     "Primary email address changed.",
	"account.change_password": "Change password",
	"account.password_set":    "Password changed.",
	"account.wrong_password":  "The current password is wrong.",
	"account.this_device":     "This device",
	"account.last_active":     "last active %s",
	"account.sign_out_device": "Sign out",
	"account.sign_out_others": "Sign out all other devices",
	"account.others_out_done": "Your other devices are signed out.",
	"account.remove_primary":  "Make another address primary before removing this one.",
	"account.session_out":     "That device is signed out.",
	"account.revoke_access":   "Remove access",
	"account.access_revoked":  "Access removed.",
	"account.leave":           "Leave",
	"account.delete":          "Delete account",
	"account.email_yours":     "That address is already on your account.",
	"account.too_many_emails": "An account can have at most 10 email addresses. Remove one first.",
	"account.email_taken":     "That email address belongs to another account.",
	"account.username_taken":  "That username is taken.",
	"account.unknown_email":   "That email address is not on your account.",
	"account.verify_first":    "Verify the address before making it primary.",

	"delete.title":    "Delete your account",
	"delete.warning":  "This deletes your account and everything stored about you, signs you out everywhere and ends the access of every application. It cannot be undone.",
	"delete.type":     "Type DELETE to confirm",
	"delete.submit":   "Delete my account",
	"delete.mistyped": "Type DELETE in capitals to confirm.",
	"delete.done":     "Your account was deleted.",

	"signout.title":    "Sign out",
	"signout.question": "Sign out of this browser?",
	"signout.submit":   "Sign out",
	"signout.cancel":   "Cancel",
	"signedout.title":  "Signed out",
	"signedout.body":   "You are signed out.",

	"message.to_sign_in": "Go to sign in",

	"sso.saml_bad_answer":     "This sign-in answer could not be read. Start again.",
	"sso.saml_continue_title": "Continue signing in",
	"sso.saml_continue_intro": "Your organization confirmed who you are. Continue to finish signing in.",

	"sso.continue_with":      "Continue with %s",
	"sso.unknown":            "This sign-in option is not available.",
	"sso.expired":            "This sign-in took too long, or was already finished. Start again.",
	"sso.other_browser":      "This sign-in was started in another browser. Start again here.",
	"sso.unreachable":        "%s could not be reached. Try again in a moment, or sign in another way.",
	"sso.refused":            "%s did not confirm the sign-in. Try again, or sign in another way.",
	"sso.no_email":           "%s did not share an email address, which an account needs.",
	"sso.link_first":         "An account with this email address already exists. Sign in to it, then connect %s from your profile.",
	"sso.no_sign_up":         "No account uses this email address, and %s may not create new ones.",
	"sso.linked_elsewhere":   "This %s account is already connected to another account.",
	"sso.link_signed_out":    "Sign in again to connect this account.",
	"account.connections":    "Connected accounts",
	"account.no_connections": "None yet.",
	"account.connect":        "Connect %s",
	"account.disconnect":     "Disconnect",
	"account.connected":      "Account connected.",
	"account.disconnected":   "Account disconnected.",
	"account.last_way":       "This is your only way to sign in. Set a password or verify an email address first.",

	"consent.title":     "Allow access",
	"consent.asks":      "asks to use your account. It will be able to:",
	"consent.revocable": "You can remove its access at any time from your account page.",
	"consent.allow":     "Allow",
	"consent.deny":      "Deny",

	"device.title":        "Connect a device",
	"device.intro":        "Enter the code shown on your TV, console or terminal.",
	"device.code":         "Device code",
	"device.signed_in_as": "Signed in as %s.",
	"device.sign_in":      "Sign in and continue",
	"device.wants":        "wants to use your account on a device.",
	"device.check":        "Allow it only if you started this yourself and your device shows this code:",
	"device.able":         "It will be able to:",
	"device.your_account": "your account",

	"footer.terms":   "Terms",
	"footer.privacy": "Privacy",
	"footer.help":    "Help",

	"error.title":     "Something is not right",
	"error.bad_form":  "The form could not be read. Go back and try again.",
	"error.too_large": "The form is too large.",
	"error.csrf":      "This form has expired. Go back, reload the page and try again.",
	"error.internal":  "Something went wrong on our side. Try again in a moment.",
	"error.request":   "This sign-in request is unknown or has expired. Go back to the application and try again.",

	"flow.over":          "This sign-in has expired or is already finished. Start again.",
	"flow.elsewhere":     "This sign-in was started in another browser. Go back to the application and start again here.",
	"flow.out_of_step":   "This page does not belong to the step your sign-in is at. Go back and continue where you were.",
	"flow.request_uri":   "This sign-in request cannot be completed: request_uri is not supported. Go back to the application and try again.",
	"flow.request_over":  "This sign-in request is unknown or has expired. Go back to the application and try again.",
	"consent.signed_out": "You are not signed in any more. Go back to the application and try again.",

	"scope.openid":         "Know who you are",
	"scope.profile":        "See your name and profile picture",
	"scope.email":          "See your email address",
	"scope.offline_access": "Stay signed in until you sign it out",
	"scope.other":          "Use %s",

	"device.too_many":       "Too many wrong codes. Wait a few minutes, then try again.",
	"device.enter_code":     "Enter the code shown on your device.",
	"device.unknown":        "That code is not valid or has expired. Check the code on your device; if it has expired, start again there.",
	"device.used":           "That code was already used. If that was not you, start again on your device.",
	"device.expired":        "That code has expired. Start again on your device.",
	"device.client_gone":    "This application is no longer registered.",
	"device.sign_in_first":  "Sign in to answer the device.",
	"device.bad_form":       "This form is not valid. Go back, reload the page and try again.",
	"device.connected":      "Device connected",
	"device.connected_body": "Your device is now signed in. You can close this window.",
	"device.refused":        "Device not connected",
	"device.refused_body":   "The device was not given access to your account. You can close this window.",
	"logout.bad_link":       "This sign-out link is not valid. Sign out from the application instead.",
	"logout.bad_request":    "This sign-out request is not valid.",
}

// t returns the string for key; a missing key shows as itself, which
// tests catch.
func t(key string) string {
	if s, ok := en[key]; ok {
		return s
	}
	return key
}

// tf formats the string for key with args.
func tf(key string, args ...any) string { return fmt.Sprintf(t(key), args...) }
