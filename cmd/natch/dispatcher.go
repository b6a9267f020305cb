package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newDispatcherCmd(getenv func(string) string) *cobra.Command {
	return &cobra.Command{Use: "dispatcher", RunE: func(*cobra.Command, []string) error { return errors.New("dispatcher: being built") }}
}
