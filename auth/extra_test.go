package auth_test

import "testing"

// extraMethods returns the setups of methods added later (cert, aws).
func extraMethods(e *env) []func(*testing.T) method { return nil }
