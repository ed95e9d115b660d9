// Package stackfile reads resilience configuration as data: named
// policies and the stacks they form, in a JSON file, with environment
// overrides, built into the real policies; and keeps a file in force while
// it changes (Live), carrying over what the policies have learned.
//
// A file:
//
//	{
//	  "policies": {
//	    "retries":  {"retry": {"maxAttempts": 4, "delay": "100ms", "multiplier": 2, "jitter": "full"}},
//	    "circuit":  {"breaker": {"trip": {"timeWindow": {"length": "10s", "failureRate": 0.5, "minCalls": 20}},
//	                             "openDuration": "5s"}},
//	    "limit":    {"adaptive": {}},
//	    "attempt":  {"timeout": {"timeout": "1s"}}
//	  },
//	  "stacks": {
//	    "payments": ["retries", "circuit", "limit", "attempt"]
//	  },
//	  "verify": {"maxAmplification": 2}
//	}
//
// Each policy has one kind (adaptive, breaker, bulkhead, hedge, rateLimit,
// retry, throttle, timeout) whose fields are the Config's of its package,
// named as in Go with a lower-case first letter, durations as strings
// ("30s"); a field left out keeps the package's default. A breaker's trip
// is one of consecutive (a count), countWindow or timeWindow; a retry's
// budget is true (its own default budget, the default), false (none) or
// a BudgetConfig's fields. A stack lists policy names, outermost first.
// docs/configuration.md describes every field, its bounds and its default.
//
// Every error is an *Error naming the file, the path inside it and why;
// an unknown field, a value of the wrong type and a value a constructor
// refuses are all errors, never ignored.
package stackfile
