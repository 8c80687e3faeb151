package kernels_test

import (
	"fmt"

	"github.com/rewoo-agent/agent/kernels"
)

// Check a launch of add (y = a + b over n floats) before handing it to the driver.
func ExampleCheckLaunch() {
	p, i := kernels.Pointer, kernels.Int32
	fmt.Println(kernels.CheckLaunch("add", p, p, p, i))
	fmt.Println(kernels.CheckLaunch("add", p, p, i))
	// Output:
	// <nil>
	// kernels: launch of add with 3 arguments: its PTX entry takes 4
}
