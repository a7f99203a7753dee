package opsflow

// AdminCount is what waits for an administrator, for the navigation:
// processes stalled on a refused change and notifications that failed
// after their retry budget.
type AdminCount struct {
	Stalled int `json:"stalled" db:"stalled"`
	Failed  int `json:"failed" db:"failed"`
}

// Total is everything that waits.
func (c AdminCount) Total() int { return c.Stalled + c.Failed }

// InboxCount counts what a person still has to do (their inbox: assigned
// to them or queued for one of their roles, open, in progress or
// blocked): all of it, what is overdue, and what falls due soon.
type InboxCount struct {
	Open    int `json:"open" db:"open"`
	Overdue int `json:"overdue" db:"overdue"`
	DueSoon int `json:"due_soon" db:"due_soon"`
}
