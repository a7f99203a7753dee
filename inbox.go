package opsflow

// InboxCount counts what a person still has to do (their inbox: assigned
// to them or queued for one of their roles, open, in progress or
// blocked): all of it, what is overdue, and what falls due soon.
type InboxCount struct {
	Open    int `json:"open" db:"open"`
	Overdue int `json:"overdue" db:"overdue"`
	DueSoon int `json:"due_soon" db:"due_soon"`
}
