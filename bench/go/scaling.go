// SPDX-License-Identifier: MIT
//
// Go's side of `make bench-scaling`: the cases of scaling_bench.c, written
// the same way, one case at one GOMAXPROCS per process, printing one line
// "CASE PROCS UNIT VALUE".
//
// usage: go-scaling CASE PROCS
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

var procs int

func benchSkynet() {
	fmt.Printf("skynet %d ms %.1f\n", procs, skynetRun())
}

// As in scaling_bench.c, which explains them.
const (
	pipeN      = 1000000
	pipeBuf    = 1024
	hashRounds = 200
	pipeSum    = 0xc890e6b62a7b84ec
)

func hash(x uint64) uint64 {
	for i := 0; i < hashRounds; i++ {
		x = (x ^ (x >> 29)) * 0xbf58476d1ce4e5b9
	}
	return x ^ (x >> 32)
}

func benchPipeline() {
	in, out := make(chan uint64, pipeBuf), make(chan uint64, pipeBuf)
	var wg sync.WaitGroup
	var sum uint64
	t0 := time.Now()
	wg.Add(procs)
	for i := 0; i < procs; i++ {
		go func() {
			for v := range in {
				out <- hash(v)
			}
			wg.Done()
		}()
	}
	go func() {
		for i := uint64(0); i < pipeN; i++ {
			in <- i
		}
		close(in)
	}()
	for i := 0; i < pipeN; i++ {
		sum += <-out
	}
	t := time.Since(t0)
	wg.Wait()
	if sum != pipeSum {
		fmt.Fprintf(os.Stderr, "pipeline: wrong sum 0x%016x\n", sum)
		os.Exit(1)
	}
	fmt.Printf("pipeline %d ns/item %.1f\n", procs, float64(t.Nanoseconds())/pipeN)
}

const mutexTotal = 8000000

func benchMutex() {
	var mu sync.Mutex
	var wg sync.WaitGroup
	n := 4 * procs
	perGoroutine := mutexTotal / n
	counter := 0
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func() {
			for j := 0; j < perGoroutine; j++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	t := time.Since(t0)
	if counter != perGoroutine*n {
		fmt.Fprintf(os.Stderr, "mutex: counted %d, not %d\n", counter, perGoroutine*n)
		os.Exit(1)
	}
	fmt.Printf("mutex %d ns/lock %.1f\n", procs, float64(t.Nanoseconds())/float64(counter))
}

func main() {
	cases := map[string]func(){
		"skynet":   benchSkynet,
		"pipeline": benchPipeline,
		"mutex":    benchMutex,
	}
	var err error
	if len(os.Args) == 3 {
		procs, err = strconv.Atoi(os.Args[2])
	}
	if len(os.Args) != 3 || err != nil || procs < 1 || procs > 1024 {
		fmt.Fprintln(os.Stderr, "usage: go-scaling skynet|pipeline|mutex PROCS (1-1024)")
		os.Exit(2)
	}
	fn, ok := cases[os.Args[1]]
	if !ok {
		fmt.Fprintf(os.Stderr, "go-scaling: no such case: %s\n", os.Args[1])
		os.Exit(2)
	}
	runtime.GOMAXPROCS(procs)
	fn()
}
