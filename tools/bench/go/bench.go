// SPDX-License-Identifier: MIT
//
// Go's side of `make bench`: the same cases as fiber_bench.c, written the
// same way, printing "CASE UNIT VALUE" lines.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"
)

func waitOthers(base int) {
	for runtime.NumGoroutine() > base {
		runtime.Gosched()
	}
}

func benchYield() {
	const n = 2000000
	prev := runtime.GOMAXPROCS(1)
	var total, waits int64
	base := runtime.NumGoroutine()
	t0 := time.Now()
	for i := 0; i < 2; i++ {
		go func() {
			for j := 0; j < n; j++ {
				runtime.Gosched()
			}
			atomic.AddInt64(&total, n)
		}()
	}
	for runtime.NumGoroutine() > base {
		runtime.Gosched()
		waits++
	}
	t := time.Since(t0)
	fmt.Printf("yield_pingpong ns/yield %.1f\n", float64(t.Nanoseconds())/float64(total+waits))
	runtime.GOMAXPROCS(prev)
}

func benchSpawn() {
	const n = 1000000
	base := runtime.NumGoroutine()
	t0 := time.Now()
	for i := 0; i < n; i++ {
		go func() {}()
	}
	waitOthers(base)
	t := time.Since(t0)
	fmt.Printf("spawn_exit ns/fiber %.1f\n", float64(t.Nanoseconds())/n)
}

func skynet(num, size int64, sum *int64, pending *int32) {
	if size == 1 {
		atomic.AddInt64(sum, num)
	} else {
		var mySum int64
		var myPending int32 = 10
		for i := int64(0); i < 10; i++ {
			go skynet(num+i*(size/10), size/10, &mySum, &myPending)
		}
		for atomic.LoadInt32(&myPending) != 0 {
			runtime.Gosched()
		}
		atomic.AddInt64(sum, atomic.LoadInt64(&mySum))
	}
	atomic.AddInt32(pending, -1)
}

func benchSkynet() {
	var sum int64
	var pending int32 = 1
	t0 := time.Now()
	go skynet(0, 1000000, &sum, &pending)
	for atomic.LoadInt32(&pending) != 0 {
		runtime.Gosched()
	}
	t := time.Since(t0)
	if sum != 499999500000 {
		fmt.Fprintf(os.Stderr, "skynet: wrong sum %d\n", sum)
		os.Exit(1)
	}
	fmt.Printf("skynet ms %.1f\n", float64(t.Nanoseconds())/1e6)
}

func rssBytes() int64 {
	var pages, rss int64
	f, err := os.Open("/proc/self/statm")
	if err != nil {
		return 0
	}
	defer f.Close()
	fmt.Fscan(f, &pages, &rss)
	return rss * int64(os.Getpagesize())
}

func benchMemory() {
	const n = 100000
	var started int64
	release := make(chan struct{})
	base := runtime.NumGoroutine()
	before := rssBytes()
	for i := 0; i < n; i++ {
		go func() {
			atomic.AddInt64(&started, 1)
			<-release
		}()
	}
	for atomic.LoadInt64(&started) < n {
		runtime.Gosched()
	}
	after := rssBytes()
	close(release)
	waitOthers(base)
	fmt.Printf("parked_memory bytes/fiber %.0f\n", float64(after-before)/n)
}

func main() {
	cases := []struct {
		name string
		fn   func()
	}{
		{"yield_pingpong", benchYield},
		{"spawn_exit", benchSpawn},
		{"skynet", benchSkynet},
		{"parked_memory", benchMemory},
	}
	ran := 0
	for _, c := range cases {
		want := len(os.Args) == 1
		for _, a := range os.Args[1:] {
			want = want || a == c.name
		}
		if want {
			c.fn()
			ran++
		}
	}
	if ran == 0 {
		fmt.Fprintln(os.Stderr, "go-bench: no such case")
		os.Exit(2)
	}
}
