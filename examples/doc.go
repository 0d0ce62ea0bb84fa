// Package examples holds the runnable examples of the README (quickstart)
// and the test that builds every Go program the README shows.
package examples
