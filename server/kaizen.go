package server

// kaizenStore is what the kaizen handlers read beyond the shared process reads.
type kaizenStore interface{}
