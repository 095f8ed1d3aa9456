package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"text/template"

	"github.com/Masterminds/sprig"
	"gopkg.in/yaml.v3"
)

// funcMap is sprig's text functions (without env and expandenv, which Helm removes) and Helm's own.
func funcMap(root *template.Template) template.FuncMap {
	functions := sprig.TxtFuncMap()
	delete(functions, "env")
	delete(functions, "expandenv")
	functions["toYaml"] = toYaml
	functions["fromYaml"] = fromYaml
	functions["required"] = func(message string, value interface{}) (interface{}, error) {
		if value == nil || value == "" {
			return nil, errors.New(message)
		}
		return value, nil
	}
	functions["fail"] = func(message string) (string, error) { return "", errors.New(message) }
	functions["include"] = func(name string, data interface{}) (string, error) {
		var buffer bytes.Buffer
		err := root.ExecuteTemplate(&buffer, name, data)
		return buffer.String(), err
	}
	functions["tpl"] = func(text string, data interface{}) (string, error) {
		t, err := root.Clone()
		if err != nil {
			return "", err
		}
		if _, err := t.New("tpl").Parse(text); err != nil {
			return "", err
		}
		var buffer bytes.Buffer
		err = t.ExecuteTemplate(&buffer, "tpl", data)
		return buffer.String(), err
	}
	return functions
}

// toYaml marshals as Helm's does (through JSON, so integral numbers print as integers), without the final newline.
func toYaml(value interface{}) (string, error) {
	asJSON, err := json.Marshal(value)
	if err != nil {
		return "", err
	}
	decoder := json.NewDecoder(bytes.NewReader(asJSON))
	decoder.UseNumber()
	var tree interface{}
	if err := decoder.Decode(&tree); err != nil {
		return "", err
	}
	var buffer bytes.Buffer
	encoder := yaml.NewEncoder(&buffer)
	encoder.SetIndent(2)
	if err := encoder.Encode(numbers(tree)); err != nil {
		return "", err
	}
	return strings.TrimSuffix(buffer.String(), "\n"), nil
}

func numbers(node interface{}) interface{} {
	switch value := node.(type) {
	case map[string]interface{}:
		for key, item := range value {
			value[key] = numbers(item)
		}
	case []interface{}:
		for i, item := range value {
			value[i] = numbers(item)
		}
	case json.Number:
		if integer, err := value.Int64(); err == nil {
			return integer
		}
		real, _ := value.Float64()
		return real
	}
	return node
}

func fromYaml(text string) map[string]interface{} {
	values, err := parseValues([]byte(text))
	if err != nil {
		return map[string]interface{}{"Error": err.Error()}
	}
	return values
}
