package claims

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// rootPath is where a template's claims sit in the API body, and so where
// every Problem's path starts.
const rootPath = "$.claims"

// hardLimit is the size above which Parse stops at the size problem
// instead of looking for the others too.
const hardLimit = 1 << 20

// maxListed is how many problems, and how many warnings, Parse lists; one
// more entry says how many it left out.
const maxListed = 100

type nodeKind uint8

const (
	kindConst  nodeKind = iota // a string, number, bool or null, used as is
	kindObject                 // keys and elems
	kindArray                  // elems
	kindWhole                  // a string that is exactly one shortcode: expr
	kindInterp                 // a string with shortcodes in text: parts
)

type node struct {
	kind  nodeKind
	value any // kindConst: string, json.Number, bool or nil
	keys  []string
	elems []*node
	expr  *expr
	parts []part
}

// Template is a parsed, validated template. It is immutable and safe for
// concurrent use.
type Template struct {
	root *node // a kindObject
}

// Parse validates raw (a JSON object) and parses every shortcode.
//
// Every reason to refuse the template — not a JSON object, a reserved
// claim as a top-level key, a malformed shortcode, private metadata named,
// a shortcode in a key, nesting deeper than MaxDepth, more than MaxSize
// bytes — is reported at once in a *ValidationError, each with its JSON
// path. The warnings, returned with or without an error, are shortcodes
// that name nothing known (they render as null), duplicate keys, and an
// estimated rendered size of the custom claims above SizeWarning bytes.
func Parse(raw []byte) (*Template, []Problem, error) {
	p := &parser{}
	if len(raw) > MaxSize {
		p.problem(rootPath, fmt.Sprintf("the template is %d bytes; the limit is %d (64 KiB)", len(raw), MaxSize))
		if len(raw) > hardLimit {
			return nil, nil, &ValidationError{Problems: p.problems}
		}
	}
	root := p.parse(raw)
	p.warnings = capList(p.warnings, "warnings")
	if len(p.problems) > 0 {
		return nil, p.warnings, &ValidationError{Problems: capList(p.problems, "problems")}
	}
	t := &Template{root: root}
	if n := estimateSize(t); n > SizeWarning {
		p.warn(rootPath, fmt.Sprintf("the custom claims render to about %d bytes for a typical user, metadata counted as empty; keep them under %d bytes (1.2 KB) so tokens stay small", n, SizeWarning))
	}
	return t, p.warnings, nil
}

// capList keeps the first maxListed entries of list and says how many
// more there were.
func capList(list []Problem, what string) []Problem {
	if len(list) <= maxListed {
		return list
	}
	more := len(list) - maxListed
	return append(list[:maxListed:maxListed], Problem{rootPath, fmt.Sprintf("%d more %s not listed", more, what)})
}

type parser struct {
	dec      *json.Decoder
	problems []Problem
	warnings []Problem
}

func (p *parser) problem(path, msg string) { p.problems = append(p.problems, Problem{path, msg}) }
func (p *parser) warn(path, msg string)    { p.warnings = append(p.warnings, Problem{path, msg}) }

// parse reads raw into a node tree, collecting problems.
func (p *parser) parse(raw []byte) *node {
	var check json.RawMessage
	if err := json.Unmarshal(raw, &check); err != nil {
		msg := "not valid JSON: " + err.Error()
		if syn, ok := errors.AsType[*json.SyntaxError](err); ok {
			msg += " (at byte " + strconv.FormatInt(syn.Offset, 10) + ")"
		}
		if len(bytes.TrimSpace(raw)) == 0 {
			msg = "not valid JSON: the template is empty"
		}
		p.problem(rootPath, msg)
		return nil
	}
	p.dec = json.NewDecoder(bytes.NewReader(raw))
	p.dec.UseNumber()
	tok, err := p.dec.Token()
	if err != nil {
		p.problem(rootPath, "not valid JSON: "+err.Error())
		return nil
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		p.problem(rootPath, "the claims must be a JSON object, like {\"role\": \"authenticated\"}")
		return nil
	}
	root, err := p.object(rootPath, 1, true)
	if err != nil {
		p.problem(rootPath, "not valid JSON: "+err.Error())
		return nil
	}
	if _, err := p.dec.Token(); err != io.EOF {
		p.problem(rootPath, "not valid JSON: unexpected data after the object")
	}
	return root
}

// value reads the value that starts with tok.
func (p *parser) value(tok json.Token, path string, depth int) (*node, error) {
	switch v := tok.(type) {
	case json.Delim:
		if depth > MaxDepth {
			p.problem(path, fmt.Sprintf("nesting is deeper than %d levels", MaxDepth))
			return nil, p.skip()
		}
		if v == '{' {
			return p.object(path, depth, false)
		}
		return p.array(path, depth)
	case string:
		return p.str(v, path), nil
	default: // json.Number, bool, nil
		return &node{kind: kindConst, value: v}, nil
	}
}

func (p *parser) object(path string, depth int, top bool) (*node, error) {
	n := &node{kind: kindObject}
	index := map[string]int{}
	for {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, err
		}
		if d, ok := tok.(json.Delim); ok && d == '}' {
			return n, nil
		}
		key, _ := tok.(string)
		kpath := path + pathKey(key)
		if top && isReserved(key) {
			p.problem(kpath, fmt.Sprintf("%s is a claim Usher always sets; a template cannot set it", key))
		}
		if looksLikeShortcode(key) {
			p.problem(kpath, "shortcodes are not allowed in keys, only in values")
		}
		vtok, err := p.dec.Token()
		if err != nil {
			return nil, err
		}
		child, err := p.value(vtok, kpath, depth+1)
		if err != nil {
			return nil, err
		}
		if i, dup := index[key]; dup {
			p.warn(kpath, "the key appears more than once; the last value wins")
			n.elems[i] = child
			continue
		}
		index[key] = len(n.keys)
		n.keys = append(n.keys, key)
		n.elems = append(n.elems, child)
	}
}

func (p *parser) array(path string, depth int) (*node, error) {
	n := &node{kind: kindArray}
	for i := 0; ; i++ {
		tok, err := p.dec.Token()
		if err != nil {
			return nil, err
		}
		if d, ok := tok.(json.Delim); ok && d == ']' {
			return n, nil
		}
		child, err := p.value(tok, path+"["+strconv.Itoa(i)+"]", depth+1)
		if err != nil {
			return nil, err
		}
		n.elems = append(n.elems, child)
	}
}

// skip reads past the rest of a container whose opening token was read.
func (p *parser) skip() error {
	for open := 1; open > 0; {
		tok, err := p.dec.Token()
		if err != nil {
			return err
		}
		if d, ok := tok.(json.Delim); ok {
			if d == '{' || d == '[' {
				open++
			} else {
				open--
			}
		}
	}
	return nil
}

func (p *parser) str(s, path string) *node {
	var iss shortcodeIssues
	parts, hasCode, whole := parseString(s, &iss)
	for _, m := range iss.errs {
		p.problem(path, m)
	}
	for _, m := range iss.warnings {
		p.warn(path, m)
	}
	switch {
	case !hasCode || len(iss.errs) > 0:
		return &node{kind: kindConst, value: s}
	case whole:
		return &node{kind: kindWhole, expr: parts[0].expr}
	default:
		return &node{kind: kindInterp, parts: parts}
	}
}

// pathKey is the path step to key: .key when key is a plain name
// (letters, digits, _ and -, not starting with a digit or -), else
// ["key"].
func pathKey(key string) string {
	plain := key != ""
	for i := 0; plain && i < len(key); i++ {
		c := key[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c == '_':
		case (c >= '0' && c <= '9') || c == '-':
			plain = i > 0
		default:
			plain = false
		}
	}
	if plain {
		return "." + key
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(key)
	return "[" + string(bytes.TrimSuffix(b.Bytes(), []byte("\n"))) + "]"
}
