// helm-render renders a Helm chart's templates the way `helm template` does, for the tests: Helm is not
// packaged for Debian 12 and this machine cannot download it. It implements what the chart in deploy/helm
// uses of Helm's template semantics: Go text/template with sprig's functions, Helm's include, tpl, required,
// toYaml and fromYaml, the .Values, .Release, .Chart and .Files (Get) objects, partials in files that start with "_", and
// a values file (or several) merged over the chart's values.yaml.
//
//	helm-render [-name RELEASE] [-namespace NS] [-f values.yaml]... CHART_DIR
//
// Every rendered template that is not empty is printed as one YAML document, after a "# Source:" comment.
// Build offline from Debian's packages: GO111MODULE=off GOPATH=/usr/share/gocode go build -o helm-render *.go
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"text/template"
)

type valueFiles []string

func (v *valueFiles) String() string     { return strings.Join(*v, ",") }
func (v *valueFiles) Set(s string) error { *v = append(*v, s); return nil }

func main() {
	name := flag.String("name", "p2pdist", "release name")
	namespace := flag.String("namespace", "p2pdist", "release namespace")
	var files valueFiles
	flag.Var(&files, "f", "a values file merged over the chart's values.yaml (repeatable)")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: helm-render [-name RELEASE] [-namespace NS] [-f values.yaml]... CHART_DIR")
		os.Exit(2)
	}
	out, err := render(flag.Arg(0), *name, *namespace, files)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helm-render:", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(out)
}

func render(chartDir, name, namespace string, files []string) (string, error) {
	chart, err := loadChart(chartDir)
	if err != nil {
		return "", err
	}
	values, err := loadValues(filepath.Join(chartDir, "values.yaml"), files)
	if err != nil {
		return "", err
	}
	top := map[string]interface{}{
		"Values":       values,
		"Chart":        chart,
		"Release":      map[string]interface{}{"Name": name, "Namespace": namespace, "Service": "Helm", "IsInstall": true, "IsUpgrade": false, "Revision": 1},
		"Capabilities": map[string]interface{}{"APIVersions": []string{}},
		"Template":     map[string]interface{}{"BasePath": chart["Name"].(string) + "/templates"},
		"Files":        chartFiles(chartDir),
	}

	paths, err := filepath.Glob(filepath.Join(chartDir, "templates", "*"))
	if err != nil {
		return "", err
	}
	sort.Strings(paths)
	root := template.New("chart")
	root.Funcs(funcMap(root))
	// Helm renders with missingkey=zero and then removes "<no value>" (a value left unset renders as nothing).
	root.Option("missingkey=zero")
	var rendered []string
	for _, path := range paths {
		base := filepath.Base(path)
		if !(strings.HasSuffix(base, ".yaml") || strings.HasSuffix(base, ".yml") || strings.HasSuffix(base, ".tpl")) {
			continue
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return "", err
		}
		id := chart["Name"].(string) + "/templates/" + base
		if _, err := root.New(id).Parse(string(text)); err != nil {
			return "", err
		}
		if !strings.HasPrefix(base, "_") {
			rendered = append(rendered, id)
		}
	}
	var out strings.Builder
	for _, id := range rendered {
		var buffer bytes.Buffer
		if err := root.ExecuteTemplate(&buffer, id, top); err != nil {
			return "", err
		}
		text := strings.ReplaceAll(buffer.String(), "<no value>", "")
		if strings.TrimSpace(text) == "" {
			continue
		}
		fmt.Fprintf(&out, "---\n# Source: %s\n%s\n", id, strings.TrimRight(text, "\n"))
	}
	return out.String(), nil
}
