package config

import (
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
)

const (
	envPrefix  = "USHER_"
	fileSuffix = "_FILE"
	// testPrefix is reserved for the test suite's own variables, which share
	// the environment with the server under test.
	testPrefix = "USHER_TEST_"
)

// Setting describes one setting, for the README reference and the output
// of `usher config`.
type Setting struct {
	Key     string // dotted YAML path, like database.url
	Env     string // environment variable, like USHER_DATABASE_URL
	Default string // the default, written as the file and environment accept it
	Kind    string // string, int, bool, duration or list (comma-separated)
}

// Settings lists every setting in the order the fields appear in Config.
func Settings() []Setting {
	def := reflect.ValueOf(Default())
	out := make([]Setting, 0, len(settings))
	for _, s := range settings {
		out = append(out, Setting{
			Key:     s.key,
			Env:     s.env,
			Default: format(def.FieldByIndex(s.index)),
			Kind:    kindOf(s.typ),
		})
	}
	return out
}

// setting is one leaf field of a settings struct, found by reflection.
type setting struct {
	key   string // database.url
	env   string // USHER_DATABASE_URL
	index []int  // for reflect.Value.FieldByIndex
	typ   reflect.Type
}

// settings is computed at init so that a field of an unsupported kind or a
// clash of names stops every test and every start-up at once.
var settings = settingsOf(reflect.TypeFor[Config]())

var (
	durationType = reflect.TypeFor[Duration]()
	listType     = reflect.TypeFor[[]string]()
)

func kindOf(t reflect.Type) string {
	switch t {
	case durationType:
		return "duration"
	case listType:
		return "list"
	}
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Int:
		return "int"
	case reflect.Bool:
		return "bool"
	}
	return ""
}

func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// label names a setting both ways, so an operator can find it whichever
// way they set it.
func label(key string) string {
	return key + " (" + envName(key) + ")"
}

// settingsOf walks the yaml tags of struct type t. It panics on what it
// cannot represent, since that is a mistake in this package, not in input.
func settingsOf(t reflect.Type) []setting {
	var out []setting
	owner := map[string]string{} // env name -> key, to catch clashes
	var walk func(t reflect.Type, prefix string, index []int)
	walk = func(t reflect.Type, prefix string, index []int) {
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
			if name == "-" {
				continue
			}
			if name == "" {
				panic(fmt.Sprintf("config: field %s.%s has no yaml tag", t.Name(), f.Name))
			}
			key := prefix + name
			idx := append(slices.Clone(index), i)
			if f.Type.Kind() == reflect.Struct && f.Type != durationType {
				walk(f.Type, key+".", idx)
				continue
			}
			if f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct {
				continue // a list of objects lives in the file only
			}
			if kindOf(f.Type) == "" {
				panic(fmt.Sprintf("config: setting %s has unsupported type %s", key, f.Type))
			}
			s := setting{key: key, env: envName(key), index: idx, typ: f.Type}
			if strings.HasPrefix(s.env, testPrefix) {
				panic(fmt.Sprintf("config: setting %s would use the reserved prefix %s", key, testPrefix))
			}
			for _, env := range []string{s.env, s.env + fileSuffix} {
				if other, ok := owner[env]; ok {
					panic(fmt.Sprintf("config: settings %s and %s both claim %s", other, key, env))
				}
				owner[env] = key
			}
			out = append(out, s)
		}
	}
	walk(t, "", nil)
	return out
}

// format writes v the way setValue reads it.
func format(v reflect.Value) string {
	switch kindOf(v.Type()) {
	case "duration":
		return Duration(v.Int()).String()
	case "list":
		return strings.Join(v.Interface().([]string), ",")
	case "int":
		return strconv.FormatInt(v.Int(), 10)
	case "bool":
		return strconv.FormatBool(v.Bool())
	}
	return v.String()
}

// setValue parses s into v according to its kind.
func setValue(v reflect.Value, s string) error {
	switch kindOf(v.Type()) {
	case "duration":
		d, err := parseDuration(s)
		if err != nil {
			return err
		}
		v.SetInt(int64(d))
	case "list":
		var items []string
		for _, item := range strings.Split(s, ",") {
			if item = strings.TrimSpace(item); item != "" {
				items = append(items, item)
			}
		}
		v.Set(reflect.ValueOf(items))
	case "int":
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not a whole number", s)
		}
		v.SetInt(int64(n))
	case "bool":
		b, err := strconv.ParseBool(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		v.SetBool(b)
	default:
		v.SetString(s)
	}
	return nil
}

// applyEnv overlays the USHER_* variables in environ onto *dst, whose
// fields are described by list. USHER_X_FILE exists so secrets such as a
// database password can come from a mounted file rather than the process
// environment, which leaks more easily.
func applyEnv(dst any, list []setting, environ []string, readFile func(string) ([]byte, error), p *Problems) {
	root := reflect.ValueOf(dst).Elem()
	env := map[string]string{}
	var order []string // environ order, so reports are stable
	for _, kv := range environ {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(k, envPrefix) || strings.HasPrefix(k, testPrefix) {
			continue
		}
		if _, dup := env[k]; dup {
			continue // the first one wins, as with os.Getenv
		}
		env[k] = v
		order = append(order, k)
	}

	known := map[string]bool{}
	for _, s := range list {
		fileEnv := s.env + fileSuffix
		known[s.env], known[fileEnv] = true, true
		val, direct := env[s.env]
		path, fromFile := env[fileEnv]
		from := s.env
		switch {
		case direct && fromFile:
			p.add("%s: both %s and %s are set; set only one", s.key, s.env, fileEnv)
			continue
		case fromFile:
			data, err := readFile(path)
			if err != nil {
				p.add("%s (%s): %v", s.key, fileEnv, err)
				continue
			}
			val, from = trimNewline(string(data)), fileEnv
		case !direct:
			continue
		}
		if err := setValue(root.FieldByIndex(s.index), val); err != nil {
			p.add("%s (%s): %v", s.key, from, err)
		}
	}

	for _, k := range order {
		if !known[k] {
			p.add("unknown setting %s", k)
		}
	}
}

// trimNewline drops the one line ending editors and `echo` add to a secret
// file, and no more, so deliberate whitespace survives.
func trimNewline(s string) string {
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		return strings.TrimSuffix(t, "\r")
	}
	return s
}
