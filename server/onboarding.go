package server

// onboardingStore is what the onboarding handlers read beyond the shared process reads.
type onboardingStore interface{}
