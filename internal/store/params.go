package store

import (
	"strings"
	"time"
)

// ArrayParam formats a list as the text of an Array(String) parameter:
// ['a','b\'c'].
func ArrayParam(xs []string) string {
	var b strings.Builder
	b.WriteByte('[')
	for i, x := range xs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(quoteString(x))
	}
	b.WriteByte(']')
	return b.String()
}

// TimeParam formats a time as the text of a DateTime64(3) parameter (UTC).
func TimeParam(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05.000") }
