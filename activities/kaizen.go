package activities

// kaizenStore is what the kaizen activities need from the store.
type kaizenStore interface{}
