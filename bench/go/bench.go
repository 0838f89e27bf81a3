// SPDX-License-Identifier: MIT
//
// Go's side of `make bench`: the same cases as fiber_bench.c, written the
// same way, printing "CASE UNIT VALUE" lines.
package main

import (
	"fmt"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
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

// startParked starts n goroutines that each block on release, and
// returns once all of them have started.
func startParked(n int64, release chan struct{}) {
	var started int64
	for i := int64(0); i < n; i++ {
		go func() {
			atomic.AddInt64(&started, 1)
			<-release
		}()
	}
	for atomic.LoadInt64(&started) < n {
		runtime.Gosched()
	}
}

func benchSpawnParked() {
	const n = 1000000
	release := make(chan struct{})
	base := runtime.NumGoroutine()
	t0 := time.Now()
	startParked(n, release)
	t := time.Since(t0)
	close(release)
	waitOthers(base)
	fmt.Printf("spawn_parked ns/fiber %.1f\n", float64(t.Nanoseconds())/n)
}

func benchSkynet() {
	fmt.Printf("skynet ms %.1f\n", skynetRun())
}

const chanN = 1000000

func benchChanPingpong() {
	prev := runtime.GOMAXPROCS(1)
	ping, pong := make(chan int64), make(chan int64)
	go func() {
		for v := range ping {
			pong <- v
		}
	}()
	t0 := time.Now()
	for i := int64(0); i < chanN; i++ {
		ping <- i
		<-pong
	}
	fmt.Printf("chan_pingpong ns/roundtrip %.1f\n", float64(time.Since(t0).Nanoseconds())/chanN)
	close(ping)
	runtime.GOMAXPROCS(prev)
}

func benchChanBuffered() {
	ch := make(chan int64, 1024)
	go func() {
		for i := int64(0); i < 10*chanN; i++ {
			ch <- i
		}
		close(ch)
	}()
	t0 := time.Now()
	n := 0
	for range ch {
		n++
	}
	fmt.Printf("chan_buffered ns/value %.1f\n", float64(time.Since(t0).Nanoseconds())/float64(n))
}

func benchSelect4() {
	var ch [4]chan int64
	for i := range ch {
		ch[i] = make(chan int64)
		go func(c chan int64) {
			for j := int64(0); j < chanN/4; j++ {
				c <- j
			}
		}(ch[i])
	}
	t0 := time.Now()
	for i := 0; i < chanN/4*4; i++ {
		select {
		case <-ch[0]:
		case <-ch[1]:
		case <-ch[2]:
		case <-ch[3]:
		}
	}
	fmt.Printf("select4 ns/select %.1f\n", float64(time.Since(t0).Nanoseconds())/float64(chanN/4*4))
}

func benchMutex() {
	prev := runtime.GOMAXPROCS(2)
	var mu sync.Mutex
	var wg sync.WaitGroup
	counter := 0
	t0 := time.Now()
	wg.Add(4)
	for i := 0; i < 4; i++ {
		go func() {
			for j := 0; j < chanN; j++ {
				mu.Lock()
				counter++
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	fmt.Printf("mutex_2procs ns/lock %.1f\n", float64(time.Since(t0).Nanoseconds())/(4*chanN))
	runtime.GOMAXPROCS(prev)
}

func benchTCPEcho() {
	const conns, msgs = 100, 2000
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	go func() {
		for i := 0; i < conns; i++ {
			c, err := ln.Accept()
			if err != nil {
				panic(err)
			}
			go func(c net.Conn) {
				buf := make([]byte, 64)
				for {
					n, err := c.Read(buf)
					if err != nil {
						c.Close()
						return
					}
					c.Write(buf[:n])
				}
			}(c)
		}
	}()
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(conns)
	for i := 0; i < conns; i++ {
		go func() {
			c, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				panic(err)
			}
			msg, buf := make([]byte, 64), make([]byte, 64)
			for j := 0; j < msgs; j++ {
				c.Write(msg)
				if _, err := io.ReadFull(c, buf); err != nil {
					panic(err)
				}
			}
			c.Close()
			wg.Done()
		}()
	}
	wg.Wait()
	fmt.Printf("tcp_echo msgs/s %.0f\n", conns*msgs/time.Since(t0).Seconds())
	ln.Close()
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
	release := make(chan struct{})
	base := runtime.NumGoroutine()
	before := rssBytes()
	startParked(n, release)
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
		{"spawn_parked", benchSpawnParked},
		{"skynet", benchSkynet},
		{"parked_memory", benchMemory},
		{"chan_pingpong", benchChanPingpong},
		{"chan_buffered", benchChanBuffered},
		{"select4", benchSelect4},
		{"mutex_2procs", benchMutex},
		{"tcp_echo", benchTCPEcho},
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
