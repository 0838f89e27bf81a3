// SPDX-License-Identifier: MIT
//
// Go's side of `make bench-vm` (bench/vm_bench.c): the same cases,
// written the same way, built as a static binary and run in the same VM.
// Go's sysmon is the reference for the fallback: a goroutine in a system
// call keeps its P until sysmon sees the call last 20 us to 10 ms.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var start = time.Now()

func now() int64 { return int64(time.Since(start)) }

// block -> P running again: B is queued before A blocks in read(); it
// notes when it starts, then writes the pipe that A waits on.
func benchBlock() {
	const rounds, warmup = 400, 20
	runtime.GOMAXPROCS(1)
	var p [2]int
	if err := syscall.Pipe(p[:]); err != nil {
		panic(err)
	}
	lat := make([]int64, rounds+warmup)
	buf := make([]byte, 1)
	var t0 int64
	for i := range lat {
		done := make(chan struct{})
		go func(i int) {
			lat[i] = now() - atomic.LoadInt64(&t0)
			syscall.Write(p[1], []byte("x"))
			close(done)
		}(i)
		atomic.StoreInt64(&t0, now())
		if n, err := syscall.Read(p[0], buf); n != 1 || err != nil {
			panic(err)
		}
		<-done
	}
	s := lat[warmup:]
	sort.Slice(s, func(a, b int) bool { return s[a] < s[b] })
	fmt.Printf("RESULT block_to_run_p50 %d\n", s[rounds/2])
	fmt.Printf("RESULT block_to_run_p99 %d\n", s[rounds*99/100])
}

var sink uint64

// Compute speed over 1.5 s on two Ps, with or without 4 goroutines
// sleeping 1 ms at a time in nanosleep(2) (a real system call).
func utilPhase(sleepers bool) float64 {
	var stop int32
	var chunks int64
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			for atomic.LoadInt32(&stop) == 0 {
				x := uint64(1)
				for j := 0; j < 20000; j++ {
					x = x*6364136223846793005 + 1
				}
				atomic.AddUint64(&sink, x)
				atomic.AddInt64(&chunks, 1)
				runtime.Gosched()
			}
			wg.Done()
		}()
		if sleepers {
			wg.Add(1)
			go func() {
				ts := syscall.Timespec{Nsec: 1000000}
				for atomic.LoadInt32(&stop) == 0 {
					syscall.Nanosleep(&ts, nil)
					runtime.Gosched()
				}
				wg.Done()
			}()
		}
	}
	before := atomic.LoadInt64(&chunks)
	t := now()
	time.Sleep(1500 * time.Millisecond)
	atomic.StoreInt32(&stop, 1)
	wg.Wait()
	return float64(atomic.LoadInt64(&chunks)-before) * 1e9 / float64(now()-t)
}

func benchUtil() {
	runtime.GOMAXPROCS(2)
	solo := utilPhase(false)
	mixed := utilPhase(true)
	fmt.Printf("RESULT utilisation_half_blocking %.3f\n", mixed/solo)
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: go-vmbench block|util")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "block":
		benchBlock()
	case "util":
		benchUtil()
	default:
		fmt.Fprintln(os.Stderr, "usage: go-vmbench block|util")
		os.Exit(2)
	}
}
