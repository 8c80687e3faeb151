package fetch_test

import (
	"context"
	"errors"
	"fmt"
	"net/netip"

	"github.com/rewoo-agent/agent/tools/fetch"
)

func ExampleCheckAddr() {
	for _, ip := range []string{"8.8.8.8", "169.254.169.254", "::ffff:0:10.0.0.1", "64:ff9b::808:808"} {
		err := fetch.CheckAddr(netip.MustParseAddr(ip))
		fmt.Println(ip, err == nil)
	}
	// Output:
	// 8.8.8.8 true
	// 169.254.169.254 false
	// ::ffff:0:10.0.0.1 false
	// 64:ff9b::808:808 true
}

func ExampleFetcher_Fetch() {
	f := fetch.New(fetch.Options{})
	// A plan's URL into the cloud metadata service is refused before any
	// connection is made.
	_, err := f.Fetch(context.Background(), "http://169.254.169.254/latest/meta-data/")
	fmt.Println(errors.Is(err, fetch.ErrForbiddenAddress))
	// Output:
	// true
}
