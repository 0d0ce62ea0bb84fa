package cli

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"

	"github.com/hashicorp/hcl/v2"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"

	"github.com/vaultly/vaultly/auth"
	"github.com/vaultly/vaultly/auth/authconfig"
)

// Vault Agent's auto_auth block. Agent's files write the method both as
// `method "approle" { … }` and as `method { type = "approle" … }`, and its
// settings both as `config = { … }` and as `config { … }` (HCL 1, which
// Agent reads, takes them alike): the block is decoded by hand so that
// every form reads. A method is the login of package authconfig, from the
// settings Agent documents for it:
//
//	token_file  token_file_path
//	approle     role_id_file_path, secret_id_file_path,
//	            remove_secret_id_file_after_reading (default true, as Agent),
//	            secret_id_response_wrapping_path (auth/<mount>/role/<name>/secret-id)
//	kubernetes  role, token_path (default the service-account token)
//	jwt         role, path (read at every login; never removed:
//	            remove_jwt_after_reading = true is refused)
//	aws         type = "iam" (the default of vaultly's aws login), role,
//	            region, header_value, access_key, secret_key, session_token
//	            (none: the standard AWS credential chain)
//	cert        name, client_cert, client_key (default the vault block's)
//
// mount_path (default auth/<type>) gives the mount. One sink "file"
// (path; mode 0600 only: the file holds the token) is written with the
// current token at every login (hashivault.Options.TokenSink). Anything
// else is refused with its line.

type autoAuthBlock struct {
	Body      hcl.Body  `hcl:",remain"`
	DeclRange hcl.Range `hcl:",def_range"`
}

// agentAuth is what an auto_auth block says: a token file (read at every
// login), or another method; and where the token goes (a file sink).
type agentAuth struct {
	tokenFile string
	method    auth.Method
	sink      string
}

// agentMethod is a decoded method block.
type agentMethod struct {
	typ, mount string
	config     map[string]string
	at         hcl.Range
}

// agentParams maps each method's Agent settings to authconfig's
// parameters ("": read by hand below).
var agentParams = map[string]map[string]string{
	"approle": {
		"role_id_file_path":                   "role_id_file",
		"secret_id_file_path":                 "secret_id_file",
		"remove_secret_id_file_after_reading": "remove_secret_id_file",
		"secret_id_response_wrapping_path":    "",
	},
	"kubernetes": {"role": "role", "token_path": "jwt_file"},
	"jwt":        {"role": "role", "path": "jwt_file", "remove_jwt_after_reading": ""},
	"aws": {
		"type": "", "role": "role", "region": "region", "header_value": "server_id_header",
		"access_key": "access_key", "secret_key": "secret_key", "session_token": "session_token",
	},
	"cert": {"name": "name", "client_cert": "cert_file", "client_key": "key_file"},
}

var wrappingPath = regexp.MustCompile(`^/?auth/(.+)/role/([^/]+)/secret-id$`)

// auth returns what the block says (nil without an auto_auth block).
func (c *fileConfig) auth() (*agentAuth, error) {
	a := c.AutoAuth
	if a == nil {
		return nil, nil
	}
	m, sink, err := a.method()
	if err != nil {
		return nil, err
	}
	fail := func(format string, args ...any) error {
		return usagef("config: %s: auto_auth method %s: %s", m.at, m.typ, fmt.Sprintf(format, args...))
	}
	if m.typ == "token_file" {
		path := m.config["token_file_path"]
		delete(m.config, "token_file_path")
		if err := unknownSettings(m, fail); err != nil {
			return nil, err
		}
		if path == "" {
			return nil, fail("missing config { token_file_path = ... }")
		}
		return &agentAuth{tokenFile: path, sink: sink}, nil
	}
	names, ok := agentParams[m.typ]
	if !ok {
		return nil, usagef("config: %s: auto_auth method %q: vaultly reads token_file, approle, kubernetes, jwt, aws and cert from the config; log in with 'vaultly login -method=%s' (saved, re-read at every login)", m.at, m.typ, m.typ)
	}
	params := map[string]string{}
	if m.typ == "approle" {
		params["remove_secret_id_file"] = "true" // Agent's default
	}
	for k, v := range m.config {
		p, ok := names[k]
		if !ok {
			continue // unknownSettings names it
		}
		delete(m.config, k)
		switch {
		case p != "":
			params[p] = v
		case k == "secret_id_response_wrapping_path":
			w := wrappingPath.FindStringSubmatch(v)
			if w == nil {
				return nil, fail("secret_id_response_wrapping_path %q: want auth/<mount>/role/<name>/secret-id", v)
			}
			params["wrapped"], params["role"] = "true", w[2]
		case k == "remove_jwt_after_reading":
			if v != "false" {
				return nil, fail("remove_jwt_after_reading: vaultly reads the JWT file at every login and never removes it; set it to false")
			}
		case k == "type": // aws
			if v != "iam" {
				return nil, fail("type %q: vaultly logs in to aws with type \"iam\" (signed STS GetCallerIdentity)", v)
			}
		}
	}
	if err := unknownSettings(m, fail); err != nil {
		return nil, err
	}
	if m.typ == "cert" && c.Vault != nil { // as Agent: else the vault block's client certificate
		if params["cert_file"] == "" && params["key_file"] == "" {
			params["cert_file"], params["key_file"] = c.Vault.ClientCert, c.Vault.ClientKey
		}
	}
	method, err := authconfig.FromParams(m.typ, m.mount, params)
	if err != nil {
		return nil, fail("%v", err)
	}
	return &agentAuth{method: method, sink: sink}, nil
}

// unknownSettings refuses what is left of m's config.
func unknownSettings(m *agentMethod, fail func(string, ...any) error) error {
	if len(m.config) == 0 {
		return nil
	}
	known := append([]string{"token_file_path"}, slices.Sorted(maps.Keys(agentParams[m.typ]))...)
	if m.typ != "token_file" {
		known = known[1:]
	}
	return fail("config %s: not a setting vaultly reads (it reads %s)", strings.Join(quoted(slices.Sorted(maps.Keys(m.config))), ", "), strings.Join(known, ", "))
}

// method decodes the one method block and the file sink's path ("": no
// sink), refusing other settings.
func (a *autoAuthBlock) method() (*agentMethod, string, error) {
	var blocks []*hcl.Block
	if body, ok := a.Body.(*hclsyntax.Body); ok {
		for name, attr := range body.Attributes {
			return nil, "", usagef("config: %s: auto_auth: %s is not a setting vaultly reads", attr.SrcRange, name)
		}
		for _, b := range body.Blocks {
			blocks = append(blocks, b.AsHCLBlock())
		}
	} else { // the JSON form: labels as nested objects are not read
		content, diags := a.Body.Content(&hcl.BodySchema{Blocks: []hcl.BlockHeaderSchema{{Type: "method"}, {Type: "sink"}}})
		if diags.HasErrors() {
			return nil, "", usagef("config: %s", diagText(diags))
		}
		blocks = content.Blocks
	}
	var m *hcl.Block
	sink := ""
	for _, b := range blocks {
		switch b.Type {
		case "sink":
			if sink != "" {
				return nil, "", usagef("config: %s: auto_auth: one sink, a file", b.DefRange)
			}
			p, err := fileSink(b)
			if err != nil {
				return nil, "", err
			}
			sink = p
		case "method":
			if m != nil {
				return nil, "", usagef("config: %s: auto_auth: one method block, as Agent", b.DefRange)
			}
			m = b
		default:
			return nil, "", usagef("config: %s: auto_auth: a %s block is not something vaultly reads", b.DefRange, b.Type)
		}
	}
	if m == nil {
		return nil, "", usagef("config: %s: auto_auth without a method block", a.DeclRange)
	}
	am := &agentMethod{config: map[string]string{}, at: m.DefRange}
	if len(m.Labels) > 1 {
		return nil, "", usagef("config: %s: auto_auth: method takes one label, its type", m.DefRange)
	}
	if len(m.Labels) == 1 {
		am.typ = m.Labels[0]
	}
	attrs, err := am.settings(m.Body, "auto_auth method")
	if err != nil {
		return nil, "", err
	}
	for name, at := range attrs {
		switch name {
		case "type", "mount_path":
			v, err := attrString(at)
			if err != nil {
				return nil, "", err
			}
			if name == "type" {
				if am.typ != "" && am.typ != v {
					return nil, "", usagef("config: %s: auto_auth method %q has type = %q", at.Range, am.typ, v)
				}
				am.typ = v
			} else {
				am.mount = strings.TrimPrefix(strings.Trim(v, "/"), "auth/")
			}
		default:
			return nil, "", usagef("config: %s: auto_auth method: %s is not a setting vaultly reads (it reads type, mount_path, config)", at.Range, name)
		}
	}
	if am.typ == "" {
		return nil, "", usagef("config: %s: auto_auth method without a type", m.DefRange)
	}
	return am, sink, nil
}

// fileSink reads a sink "file" block: its config's path, and mode if
// given, which must be 0600 (the file holds the token).
func fileSink(b *hcl.Block) (string, error) {
	sm := &agentMethod{config: map[string]string{}, at: b.DefRange}
	if len(b.Labels) == 1 {
		sm.typ = b.Labels[0]
	}
	attrs, err := sm.settings(b.Body, "auto_auth sink")
	if err != nil {
		return "", err
	}
	for name, at := range attrs {
		switch name {
		case "type":
			v, err := attrString(at)
			if err != nil {
				return "", err
			}
			sm.typ = v
		default:
			return "", usagef("config: %s: auto_auth sink: %s is not a setting vaultly reads (it reads a file sink's config { path, mode })", at.Range, name)
		}
	}
	if sm.typ != "file" {
		return "", usagef("config: %s: auto_auth sink %q: vaultly writes a file sink only", b.DefRange, sm.typ)
	}
	path := sm.config["path"]
	delete(sm.config, "path")
	if mode, ok := sm.config["mode"]; ok {
		delete(sm.config, "mode")
		if mode != "600" && mode != "0600" && mode != "384" { // HCL reads 0600 as 600; 384 is 0600 in decimal (JSON)
			return "", usagef("config: %s: auto_auth sink mode: the file holds the token; vaultly writes it with mode 0600 only", b.DefRange)
		}
	}
	if len(sm.config) > 0 {
		return "", usagef("config: %s: auto_auth sink config %s: not a setting vaultly reads (it reads path, mode)", b.DefRange, strings.Join(quoted(slices.Sorted(maps.Keys(sm.config))), ", "))
	}
	if path == "" {
		return "", usagef("config: %s: auto_auth sink: missing config { path = ... }", b.DefRange)
	}
	return path, nil
}

// settings reads a method's or sink's body: its `config = { … }`
// attribute and `config { … }` blocks (HCL 1 took them alike) into
// am.config, and returns its other attributes; other blocks are refused.
func (am *agentMethod) settings(body hcl.Body, what string) (hcl.Attributes, error) {
	attrs, blocks, err := bodyParts(body)
	if err != nil {
		return nil, err
	}
	for _, b := range blocks {
		if b.Type != "config" || len(b.Labels) > 0 {
			return nil, usagef("config: %s: %s: a %s block is not something vaultly reads", b.DefRange, what, b.Type)
		}
		inner, innerBlocks, err := bodyParts(b.Body)
		if err != nil {
			return nil, err
		}
		if len(innerBlocks) > 0 {
			return nil, usagef("config: %s: %s config: blocks are not settings vaultly reads", innerBlocks[0].DefRange, what)
		}
		for name, at := range inner {
			if err := am.set(name, at); err != nil {
				return nil, err
			}
		}
	}
	if at, ok := attrs["config"]; ok {
		delete(attrs, "config")
		val, diags := at.Expr.Value(nil)
		if diags.HasErrors() {
			return nil, usagef("config: %s", diagText(diags))
		}
		if !val.Type().IsObjectType() && !val.Type().IsMapType() {
			return nil, usagef("config: %s: %s config: want { name = value, ... }", at.Range, what)
		}
		for k, v := range val.AsValueMap() {
			s, err := ctyText(v)
			if err != nil {
				return nil, usagef("config: %s: %s config %s: %v", at.Range, what, k, err)
			}
			am.config[k] = s
		}
	}
	return attrs, nil
}

// set records one setting of a config block.
func (am *agentMethod) set(name string, at *hcl.Attribute) error {
	v, err := attrString(at)
	if err != nil {
		return err
	}
	am.config[name] = v
	return nil
}

// bodyParts returns a block body's attributes and blocks.
func bodyParts(b hcl.Body) (hcl.Attributes, []*hcl.Block, error) {
	if body, ok := b.(*hclsyntax.Body); ok {
		attrs := hcl.Attributes{}
		for name, a := range body.Attributes {
			attrs[name] = a.AsHCLAttribute()
		}
		var blocks []*hcl.Block
		for _, blk := range body.Blocks {
			blocks = append(blocks, blk.AsHCLBlock())
		}
		return attrs, blocks, nil
	}
	attrs, diags := b.JustAttributes() // JSON: nested objects read as attributes
	if diags.HasErrors() {
		return nil, nil, usagef("config: %s", diagText(diags))
	}
	return attrs, nil, nil
}

// attrString evaluates an attribute (no variables) as text.
func attrString(a *hcl.Attribute) (string, error) {
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		return "", usagef("config: %s", diagText(diags))
	}
	s, err := ctyText(v)
	if err != nil {
		return "", usagef("config: %s: %s: %v", a.Range, a.Name, err)
	}
	return s, nil
}

// ctyText is a string, bool or number as text.
func ctyText(v cty.Value) (string, error) {
	if v.IsNull() || !v.IsKnown() {
		return "", fmt.Errorf("no value")
	}
	switch v.Type() {
	case cty.String:
		return v.AsString(), nil
	case cty.Bool:
		if v.True() {
			return "true", nil
		}
		return "false", nil
	case cty.Number:
		return v.AsBigFloat().Text('f', -1), nil
	}
	return "", fmt.Errorf("want a string, a bool or a number")
}
