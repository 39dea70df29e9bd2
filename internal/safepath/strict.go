package safepath

import "strings"

// refusal is why CheckStrict refused a name; it matches ErrInvalid and its text is the
// rule alone, so that callers can say which parameter broke it.
type refusal string

func (r refusal) Error() string        { return string(r) }
func (r refusal) Is(target error) bool { return target == ErrInvalid }

// CheckStrict refuses a name a client gives for a file the proxy is to create (a
// fetch_boot_file prefix, the file name taken from a download URL): besides the limits
// of CheckLength, no ".." segment, no backslash, no control character (NUL included)
// and no percent-encoded "/" or "\", whether as given or once percent-decoded, however
// many times. Foreman sends none of these; the Ruby proxy would store such a name
// as is (when it stays inside the root), a file no boot loader ever asks for.
func CheckStrict(name string) error {
	if err := CheckLength(name); err != nil {
		return err
	}
	decoded := decodeAll(name)
	for _, s := range []string{name, decoded} {
		switch {
		case strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }):
			return refusal("control characters are not allowed")
		case strings.ContainsRune(s, '\\'):
			return refusal(`backslashes are not allowed`)
		case hasTraversal(s):
			return refusal(`".." is not allowed`)
		}
	}
	if strings.Count(decoded, "/") != strings.Count(name, "/") {
		return refusal(`an encoded "/" is not allowed`)
	}
	return nil
}
