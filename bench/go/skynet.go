// SPDX-License-Identifier: MIT
//
// skynet, shared by bench.go and scaling.go (each is built with this
// file beside it): as skynet() in bench/bench.h.
package main

import (
	"fmt"
	"os"
	"time"
)

func skynet(num, size int64, out chan int64) {
	if size == 1 {
		out <- num
		return
	}
	ch := make(chan int64, 10)
	for i := int64(0); i < 10; i++ {
		go skynet(num+i*(size/10), size/10, ch)
	}
	var sum int64
	for i := 0; i < 10; i++ {
		sum += <-ch
	}
	out <- sum
}

// skynetRun runs the 1M-leaf tree and returns how long it took, in ms.
func skynetRun() float64 {
	out := make(chan int64, 1)
	t0 := time.Now()
	go skynet(0, 1000000, out)
	sum := <-out
	t := time.Since(t0)
	if sum != 499999500000 {
		fmt.Fprintf(os.Stderr, "skynet: wrong sum %d\n", sum)
		os.Exit(1)
	}
	return float64(t.Nanoseconds()) / 1e6
}
