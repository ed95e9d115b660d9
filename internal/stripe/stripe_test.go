package stripe

import (
	"sync"
	"testing"
)

func TestCounterAddsUpUnderConcurrency(t *testing.T) {
	var c Counter
	const goroutines, each = 16, 10000
	var wg sync.WaitGroup
	for g := 0; g < goroutines; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				c.Add(1)
			}
		}()
	}
	wg.Wait()
	if got := c.Load(); got != goroutines*each {
		t.Fatalf("Load() = %d, want %d", got, goroutines*each)
	}
}

func BenchmarkCounterParallel(b *testing.B) {
	var c Counter
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			c.Add(1)
		}
	})
}
