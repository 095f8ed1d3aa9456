package main

import (
	"os"
	"path/filepath"
)

// chartFiles is .Files: Get reads a file of the chart by its path in the chart ("" when there is none, as in Helm).
type chartFiles string

func (dir chartFiles) Get(name string) string {
	text, err := os.ReadFile(filepath.Join(string(dir), filepath.FromSlash(name)))
	if err != nil {
		return ""
	}
	return string(text)
}
