package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// HashPassword hashes a user's password with bcrypt at bcrypt.DefaultCost (10).
// bcrypt rather than argon2id: the hash is self-describing ($2a$10$...), needs no
// parameters stored beside it and no memory tuning on a small host. Passwords longer
// than 72 bytes are refused (bcrypt would silently ignore the rest).
func HashPassword(password string) (string, error) {
	if password == "" {
		return "", errors.New("empty password")
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	return string(hash), nil
}

// CheckPassword tells whether password matches hash (from HashPassword). bcrypt's
// compare is constant-time; a malformed hash never matches.
func CheckPassword(hash, password string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)) == nil
}

// unknownUserHash is compared against when the login does not exist, so an unknown
// login costs the same bcrypt time as a wrong password and logins cannot be probed
// by timing.
var unknownUserHash = sync.OnceValue(func() string {
	hash, err := bcrypt.GenerateFromPassword([]byte("no user has this password"), bcrypt.DefaultCost)
	if err != nil {
		panic(err) // only on a broken crypto/rand
	}
	return string(hash)
})

// verifiedPasswords remembers recent successful bcrypt checks. Without it every
// Basic-authenticated API call costs ~50 ms of CPU (bcrypt cost 10), which caps a
// small core at a few dozen requests per second. An entry is an HMAC, under a key
// made at start, of login, password and stored hash: a changed password or hash
// misses, nothing readable is kept, and entries live at most ttl. The user is
// still looked up on every request, so a deleted user is refused at once.
type verifiedPasswords struct {
	key      []byte
	ttl      time.Duration
	capacity int

	mu      sync.Mutex
	entries map[[sha256.Size]byte]time.Time
}

func newVerifiedPasswords(ttl time.Duration, capacity int) *verifiedPasswords {
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		panic(err) // crypto/rand never fails on supported systems
	}
	return &verifiedPasswords{key: key, ttl: ttl, capacity: capacity, entries: map[[sha256.Size]byte]time.Time{}}
}

func (v *verifiedPasswords) digest(login, password, hash string) [sha256.Size]byte {
	mac := hmac.New(sha256.New, v.key)
	for _, part := range []string{login, password, hash} {
		mac.Write([]byte(part))
		mac.Write([]byte{0})
	}
	var d [sha256.Size]byte
	copy(d[:], mac.Sum(nil))
	return d
}

// check is CheckPassword with the memory of recent successes.
func (v *verifiedPasswords) check(login, password, hash string, now time.Time) bool {
	d := v.digest(login, password, hash)
	v.mu.Lock()
	until, ok := v.entries[d]
	v.mu.Unlock()
	if ok && now.Before(until) {
		return true
	}
	if !CheckPassword(hash, password) {
		return false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(v.entries) >= v.capacity {
		// Simplest bound: start over. Real users re-verify once, at bcrypt cost.
		clear(v.entries)
	}
	v.entries[d] = now.Add(v.ttl)
	return true
}
