package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newScalerCmd(getenv func(string) string) *cobra.Command {
	return &cobra.Command{Use: "scaler", RunE: func(*cobra.Command, []string) error { return errors.New("scaler: being built") }}
}
