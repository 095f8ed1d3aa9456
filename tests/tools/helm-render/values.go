package main

import (
	"encoding/json"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"
)

// loadChart reads Chart.yaml into the fields templates use as .Chart (Helm capitalises them).
func loadChart(dir string) (map[string]interface{}, error) {
	var chart struct {
		APIVersion  string `yaml:"apiVersion"`
		Name        string `yaml:"name"`
		Version     string `yaml:"version"`
		AppVersion  string `yaml:"appVersion"`
		Description string `yaml:"description"`
		Type        string `yaml:"type"`
	}
	text, err := os.ReadFile(dir + "/Chart.yaml")
	if err != nil {
		return nil, err
	}
	if err := yaml.Unmarshal(text, &chart); err != nil {
		return nil, fmt.Errorf("Chart.yaml: %v", err)
	}
	if chart.APIVersion != "v2" || chart.Name == "" || chart.Version == "" {
		return nil, fmt.Errorf("Chart.yaml: apiVersion v2, name and version are required")
	}
	return map[string]interface{}{"Name": chart.Name, "Version": chart.Version, "AppVersion": chart.AppVersion,
		"Description": chart.Description, "Type": chart.Type}, nil
}

// loadValues merges each file over the chart's values: maps key by key, anything else replaced (Helm's rule).
func loadValues(chartValues string, files []string) (map[string]interface{}, error) {
	values := map[string]interface{}{}
	for _, path := range append([]string{chartValues}, files...) {
		text, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		layer, err := parseValues(text)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
		values = merge(values, layer)
	}
	return values, nil
}

// parseValues reads YAML as Helm does, through JSON: every number becomes a float64, so a template that
// prints a large integer without | int64 shows the exponent form Helm would (and the tests catch it).
func parseValues(text []byte) (map[string]interface{}, error) {
	var raw interface{}
	if err := yaml.Unmarshal(text, &raw); err != nil {
		return nil, err
	}
	asJSON, err := json.Marshal(jsonCompatible(raw))
	if err != nil {
		return nil, err
	}
	values := map[string]interface{}{}
	if string(asJSON) == "null" {
		return values, nil
	}
	if err := json.Unmarshal(asJSON, &values); err != nil {
		return nil, err
	}
	return values, nil
}

// jsonCompatible turns yaml.v3's map[string]interface{} trees (and any map[interface{}]interface{}) into what encoding/json accepts.
func jsonCompatible(node interface{}) interface{} {
	switch value := node.(type) {
	case map[string]interface{}:
		for key, item := range value {
			value[key] = jsonCompatible(item)
		}
		return value
	case map[interface{}]interface{}:
		converted := map[string]interface{}{}
		for key, item := range value {
			converted[fmt.Sprint(key)] = jsonCompatible(item)
		}
		return converted
	case []interface{}:
		for i, item := range value {
			value[i] = jsonCompatible(item)
		}
		return value
	default:
		return value
	}
}

func merge(base, layer map[string]interface{}) map[string]interface{} {
	for key, value := range layer {
		if overlay, ok := value.(map[string]interface{}); ok {
			if existing, ok := base[key].(map[string]interface{}); ok {
				base[key] = merge(existing, overlay)
				continue
			}
		}
		// A null in a values file deletes the key, as in Helm.
		if value == nil {
			delete(base, key)
			continue
		}
		base[key] = value
	}
	return base
}
