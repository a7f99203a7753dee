// Package composecheck holds a test that loads the repository's
// docker-compose.yml with the Compose specification's own loader and checks
// it against opsflow's settings table. It is a nested module so compose-go
// and its dependencies stay out of the product's go.mod.
package composecheck
