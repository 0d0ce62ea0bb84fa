package sqlsecrets

// ScrubText is scrubText, for the tests.
var ScrubText = scrubText
