package main

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/natch-io/natch/shared/batch"
)

func newAppPackageCmd(getenv func(string) string) *cobra.Command {
	env := newClientEnv(getenv)
	cmd := &cobra.Command{Use: "app-package", Aliases: []string{"app"},
		Short: "Publish, list and delete application packages (versioned zips that tasks and pools reference)"}
	env.register(cmd)
	cmd.AddCommand(appPublishCmd(env), appListCmd(env), appShowCmd(env), appSetDefaultCmd(env), appDeleteCmd(env))
	return cmd
}

func appPublishCmd(env *clientEnv) *cobra.Command {
	var setDefault, allowUpdates bool
	var displayName string
	cmd := &cobra.Command{
		Use:   "publish ID VERSION FILE",
		Short: "Publish a zip as a version of an application (the application is created if needed)",
		Example: `  natch app-package publish blender 2.79 blender.zip --set-default
  natch app-package publish tools 1.0 tools.zip --allow-updates`,
		Args: cobra.ExactArgs(3),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, asJSON, err := env.open()
			if err != nil {
				return err
			}
			id, version, path := args[0], args[1], args[2]
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			fi, err := f.Stat()
			if err != nil {
				return err
			}
			if !fi.Mode().IsRegular() {
				return fmt.Errorf("%s is not a regular file", path)
			}
			ctx := cmd.Context()
			flags := cmd.Flags()
			if flags.Changed("allow-updates") || flags.Changed("display-name") {
				p := &batch.ApplicationPatch{}
				if flags.Changed("allow-updates") {
					p.AllowUpdates = &allowUpdates
				}
				if flags.Changed("display-name") {
					p.DisplayName = &displayName
				}
				if _, err := c.PatchApplication(ctx, id, p); err != nil {
					return err
				}
			}
			info, err := c.PublishPackage(ctx, id, version, f, fi.Size())
			if err != nil {
				return err
			}
			if setDefault {
				v := info.Version
				if _, err := c.PatchApplication(ctx, id, &batch.ApplicationPatch{DefaultVersion: &v}); err != nil {
					return err
				}
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), info)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "published %s %s (%d bytes, sha256 %s)\n", info.ApplicationID, info.Version, info.Size, info.SHA256)
			return nil
		},
	}
	cmd.Flags().BoolVar(&setDefault, "set-default", false, "make this version the application's default version")
	cmd.Flags().BoolVar(&allowUpdates, "allow-updates", false, "set whether existing versions of the application may be replaced")
	cmd.Flags().StringVar(&displayName, "display-name", "", "set the application's display name")
	return cmd
}

func appListCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "list",
		Short: "List applications and their versions",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, asJSON, err := env.open()
			if err != nil {
				return err
			}
			apps, err := c.ListApplications(cmd.Context(), nil)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), apps)
			}
			tw := table(cmd.OutOrStdout())
			row(tw, "ID", "DISPLAY NAME", "VERSIONS")
			for _, a := range apps {
				row(tw, a.ID, orDash(a.DisplayName), orDash(strings.Join(a.Versions, ",")))
			}
			return tw.Flush()
		},
	}
}

func appShowCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "show ID",
		Short: "Show an application: default version, updates allowed, and every package",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, asJSON, err := env.open()
			if err != nil {
				return err
			}
			a, err := c.GetApplicationDetails(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(cmd.OutOrStdout(), a)
			}
			tw := table(cmd.OutOrStdout())
			row(tw, "ID:", a.ID)
			row(tw, "Display name:", orDash(a.DisplayName))
			row(tw, "Default version:", orDash(a.DefaultVersion))
			row(tw, "Allow updates:", a.AllowUpdates)
			if err := tw.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout())
			tw = table(cmd.OutOrStdout())
			row(tw, "VERSION", "STATE", "SIZE", "ACTIVATED", "SHA256")
			for _, v := range a.Versions {
				row(tw, v.Version, v.State, v.Size, timeOrDash(v.LastActivationTime), orDash(v.SHA256))
			}
			return tw.Flush()
		},
	}
}

func appSetDefaultCmd(env *clientEnv) *cobra.Command {
	return &cobra.Command{
		Use:   "set-default ID VERSION",
		Short: "Make VERSION the application's default version (\"\" clears it)",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			v := args[1]
			if _, err := c.GetApplication(cmd.Context(), args[0]); err != nil {
				return err // set-default does not create applications
			}
			if _, err := c.PatchApplication(cmd.Context(), args[0], &batch.ApplicationPatch{DefaultVersion: &v}); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "default version of %s: %s\n", args[0], orDash(v))
			return nil
		},
	}
}

func appDeleteCmd(env *clientEnv) *cobra.Command {
	var all bool
	cmd := &cobra.Command{
		Use:   "delete ID [VERSION]",
		Short: "Delete a version of an application, or the whole application with --all",
		Example: `  natch app-package delete blender 2.79
  natch app-package delete blender --all`,
		Args: cobra.RangeArgs(1, 2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := env.client()
			if err != nil {
				return err
			}
			switch {
			case len(args) == 2 && !all:
				if err := c.DeletePackage(cmd.Context(), args[0], args[1]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted %s %s\n", args[0], args[1])
			case len(args) == 1 && all:
				if err := c.DeleteApplication(cmd.Context(), args[0]); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "deleted application %s\n", args[0])
			default:
				return errors.New("app-package delete: give ID VERSION, or ID --all")
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&all, "all", false, "delete the application with all its versions")
	return cmd
}
