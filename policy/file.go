package policy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// RuleSet is the shape of a rules file and of /api/v1/chaos/rules: {"rules": [...]}.
type RuleSet struct {
	Rules []Rule `json:"rules" yaml:"rules"`
}

// DecodeRules reads a RuleSet in JSON (unknown fields refused) and checks every rule; errors
// name the field (*FieldError), or say why the JSON does not parse.
func DecodeRules(r io.Reader) ([]Rule, error) {
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	var rs RuleSet
	if err := dec.Decode(&rs); err != nil {
		return nil, fmt.Errorf("rules: %w", err)
	}
	if _, err := compileRules(rs.Rules); err != nil {
		return nil, err
	}
	return rs.Rules, nil
}

// LoadRulesFile reads a rules file: YAML, or JSON when it ends in .json. Unknown keys are
// errors, and so is a rule that does not hold (a *FieldError naming it, wrapped with the name).
func LoadRulesFile(name string) ([]Rule, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var rules []Rule
	if strings.EqualFold(filepath.Ext(name), ".json") {
		rules, err = DecodeRules(bytes.NewReader(data))
	} else {
		dec := yaml.NewDecoder(bytes.NewReader(data))
		dec.KnownFields(true)
		var rs RuleSet
		if err = dec.Decode(&rs); err != nil && !errors.Is(err, io.EOF) {
			err = fmt.Errorf("rules: %w", err)
		} else {
			rules = rs.Rules
			_, err = compileRules(rules)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rules, nil
}

// ReloadFile reads the rules file again and puts its rules in force; when it cannot be read or
// a rule does not hold, the rules in force stay and the error says why.
func (e *Engine) ReloadFile(name string) error {
	rules, err := LoadRulesFile(name)
	if err != nil {
		e.log.Warn("SMTP rules file not reloaded; the rules in force stay", "file", name, "err", err)
		return err
	}
	if err := e.SetRules(rules); err != nil {
		return err
	}
	e.log.Info("SMTP rules file reloaded", "file", name, "rules", len(rules))
	return nil
}
