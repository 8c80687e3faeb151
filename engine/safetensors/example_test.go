package safetensors_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/rewoo-agent/agent/engine/safetensors"
)

func Example() {
	dir, _ := os.MkdirTemp("", "st")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "w.safetensors")
	err := safetensors.WriteFile(path, []safetensors.Tensor{
		{Info: safetensors.Info{Name: "bias", DType: safetensors.U8, Shape: []int{3}}, Data: []byte{1, 2, 3}},
	}, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	f, err := safetensors.Open(path) // memory-mapped
	if err != nil {
		fmt.Println(err)
		return
	}
	defer f.Close()
	t, _ := f.Tensor("bias")
	fmt.Println(t.DType, t.Shape, t.Data)
	// Output: U8 [3] [1 2 3]
}
