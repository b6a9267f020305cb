package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newWorkerCmd(getenv func(string) string) *cobra.Command {
	return &cobra.Command{Use: "worker", RunE: func(*cobra.Command, []string) error { return errors.New("worker: being built") }}
}
