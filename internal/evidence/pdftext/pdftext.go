// Package pdftext reads the text back out of a PDF, for tests that check
// what a report says. pdfcpu parses the file (cross-reference table,
// objects, decoded content streams); this package collects the strings of
// the text-showing operators (Tj, TJ, ' and ") page by page. It reads the
// core-font (cp1252) text phiwatch's reports use, not arbitrary PDFs.
package pdftext

import (
	"bytes"
	"fmt"
	"io"
	"strings"

	"github.com/pdfcpu/pdfcpu/pkg/api"
	"github.com/pdfcpu/pdfcpu/pkg/pdfcpu/model"
	"golang.org/x/text/encoding/charmap"
)

// Text returns the text of every page, one line per text operator, pages
// separated by a form feed.
func Text(pdf []byte) (string, error) {
	api.DisableConfigDir()
	conf := model.NewDefaultConfiguration()
	conf.ValidationMode = model.ValidationRelaxed
	var pages []string
	err := api.ExtractContent(bytes.NewReader(pdf), nil, func(r io.Reader, _ int) error {
		b, err := io.ReadAll(r)
		if err != nil {
			return err
		}
		pages = append(pages, strings.Join(shownStrings(b), "\n"))
		return nil
	}, conf)
	if err != nil {
		return "", fmt.Errorf("read PDF: %w", err)
	}
	return strings.Join(pages, "\f"), nil
}

// shownStrings scans a content stream for string operands of text operators.
func shownStrings(b []byte) []string {
	var out []string
	var pending []string // strings since the last operator
	var inArray bool
	var arrayParts []string
	dec := charmap.Windows1252.NewDecoder()
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == '(':
			s, n := literal(b[i:])
			u, err := dec.Bytes(s)
			if err != nil {
				u = s
			}
			if inArray {
				arrayParts = append(arrayParts, string(u))
			} else {
				pending = append(pending, string(u))
			}
			i += n
		case c == '[':
			inArray, arrayParts = true, nil
			i++
		case c == ']':
			inArray = false
			pending = append(pending, strings.Join(arrayParts, ""))
			i++
		case c == '%':
			for i < len(b) && b[i] != '\n' && b[i] != '\r' {
				i++
			}
		case isRegular(c):
			j := i
			for j < len(b) && isRegular(b[j]) {
				j++
			}
			op := string(b[i:j])
			switch op {
			case "Tj", "TJ", "'", "\"":
				if len(pending) > 0 {
					out = append(out, pending[len(pending)-1])
				}
			}
			if !isNumber(op) {
				pending = nil
			}
			i = j
		default:
			i++
		}
	}
	return out
}

// literal decodes a PDF literal string starting at b[0] == '(' and returns
// it and the bytes consumed.
func literal(b []byte) ([]byte, int) {
	var out []byte
	depth := 0
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '\\' && i+1 < len(b):
			i++
			switch e := b[i]; e {
			case 'n':
				out = append(out, '\n')
			case 'r':
				out = append(out, '\r')
			case 't':
				out = append(out, '\t')
			case 'b':
				out = append(out, '\b')
			case 'f':
				out = append(out, '\f')
			case '\r', '\n':
				// line continuation
			default:
				if e >= '0' && e <= '7' {
					v, k := 0, 0
					for k < 3 && i < len(b) && b[i] >= '0' && b[i] <= '7' {
						v = v*8 + int(b[i]-'0')
						i++
						k++
					}
					i--
					out = append(out, byte(v))
				} else {
					out = append(out, e)
				}
			}
		case c == '(':
			if depth > 0 {
				out = append(out, c)
			}
			depth++
		case c == ')':
			depth--
			if depth == 0 {
				return out, i + 1
			}
			out = append(out, c)
		default:
			out = append(out, c)
		}
	}
	return out, len(b)
}

func isRegular(c byte) bool {
	return !strings.ContainsRune(" \t\r\n\f\x00()<>[]{}/%", rune(c))
}

func isNumber(s string) bool {
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r == '.' || r == '-' || r == '+') {
			return false
		}
	}
	return s != ""
}
