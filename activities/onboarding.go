package activities

// onboardingStore is what the onboarding activities need from the store.
type onboardingStore interface{}
