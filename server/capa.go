package server

// capaStore is what the capa handlers read beyond the shared process reads.
type capaStore interface{}
