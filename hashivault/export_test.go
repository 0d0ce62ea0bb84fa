package hashivault

// Exported for the external tests (package hashivault_test), which use the
// root vaultly package and so cannot live in this package.
var (
	Shared     = shared
	NewBackend = newBackend
)
