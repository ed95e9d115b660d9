package watch

import "slices"

// Configuration is a configuration in force that came from outside the
// program, such as a file a stackfile.Live keeps in force: where it came
// from, how its reloads went, and each policy's settings.
type Configuration struct {
	// Origin is where it came from: a file's path.
	Origin string
	// Reloads counts the changes put in force, Refusals the ones refused;
	// LastRefusal is the latest refusal's reason, or "".
	Reloads, Refusals uint64
	LastRefusal       string `json:",omitempty"`
	// Policies are its policies, sorted by name.
	Policies []ConfiguredPolicy
}

// ConfiguredPolicy is one policy of a Configuration.
type ConfiguredPolicy struct {
	Name, Kind string
	// Settings are the policy's settings as its source states them (a
	// file's JSON for the policy), and Overrides the environment
	// variables that changed them.
	Settings  string
	Overrides []string `json:",omitempty"`
	// Policy is the policy built from the settings (a *breaker.Breaker,
	// *retry.Policy, *hedge.Policy or a load-shedding policy), which the
	// list reports with those added to it: a reload that builds a new one
	// is followed.
	Policy any `json:"-"`
}

// Configurer is a configuration that reports itself (stackfile.Live).
type Configurer interface {
	Configuration() Configuration
}

// addConfiguration adds c, whose Configuration is read at each report,
// and the policies it has in force at each report.
func (l *List) addConfiguration(c Configurer) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.configurers = append(l.configurers, c)
}

// configurations returns what each added Configurer reports now.
func (l *List) configurations() []Configuration {
	l.mu.Lock()
	cs := slices.Clone(l.configurers)
	l.mu.Unlock()
	out := make([]Configuration, 0, len(cs))
	for _, c := range cs {
		out = append(out, c.Configuration())
	}
	return out
}

// configured returns the policies of the added configurations now.
func (l *List) configured() []any {
	var ps []any
	for _, c := range l.configurations() {
		for _, p := range c.Policies {
			if p.Policy != nil {
				ps = append(ps, p.Policy)
			}
		}
	}
	return ps
}

// configuredOf returns the policies of type P of the added configurations.
func configuredOf[P any](l *List) []P {
	var out []P
	for _, p := range l.configured() {
		if p, ok := p.(P); ok {
			out = append(out, p)
		}
	}
	return out
}
