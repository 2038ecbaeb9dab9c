package rotation

import "errors"

// IsPermanent reports whether err, or an error it wraps, has a method
// Permanent() bool that returns true: the convention [CredentialService]
// describes for a failure that can never succeed on retry for the same value
// (a credential the service rejects, a malformed value).
func IsPermanent(err error) bool {
	var p interface{ Permanent() bool }
	return errors.As(err, &p) && p.Permanent()
}
