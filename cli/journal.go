package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/home"
	"github.com/trustsync/trustsync/internal/keys"
	"github.com/trustsync/trustsync/journal"
	"github.com/trustsync/trustsync/store"
)

const journalList = "trustsync journal list"

// NewCmdJournal returns 'trustsync journal' and its subcommands.
func NewCmdJournal(f *Factory) *cobra.Command {
	cmd := newGroupCmd("journal <command>",
		"Your private journal and self-care plan, never synced",
		heredoc(`
			Your journal is yours alone. It is kept in its own file on this device,
			apart from the space you share, and no sync ever offers it to any
			device, your partner's or your own others. Your partner sees nothing of
			it: not the entries, not how many there are, not when you wrote.

			The only way out is 'trustsync journal share', which shows you exactly
			what your partner will read and asks before copying it into a check-in.

			Beside entries, the journal keeps a self-care plan ('journal plan') and
			a log of what you did for yourself ('journal selfcare'), of which you
			may share a summary.

			When this home is encrypted the journal is too. 'trustsync journal
			passphrase' gives the journal a passphrase of its own, which journal
			commands always ask for (or read from TRUSTSYNC_JOURNAL_PASSPHRASE):
			then someone at your unlocked terminal still cannot read it.
		`),
		heredoc(`
			$ trustsync journal add "I was jealous today and did not say so."
			$ trustsync journal list
			$ trustsync journal share 4mzq2k7a --mood 3
			$ trustsync journal plan add "A walk after work"
			$ trustsync journal selfcare log --practice 7hd2kq3m "felt lighter"
			$ trustsync journal selfcare share --mood 4 --days 7
		`))
	cmd.AddCommand(
		newCmdJournalAdd(f), newCmdJournalList(f), newCmdJournalShow(f), newCmdJournalShare(f),
		newCmdJournalPlan(f), newCmdJournalSelfCare(f), newCmdJournalPassphrase(f),
	)
	return cmd
}

// openJournal opens this home's journal with its key: derived from the
// home's key when the home is encrypted (so a locked home has a locked
// journal), or from the journal's own passphrase when it has one.
func (f *Factory) openJournal(ctx context.Context) (*journal.Journal, error) {
	h, err := f.open(ctx)
	if err != nil {
		return nil, err
	}
	j, err := h.OpenJournal(ctx, home.JournalOptions{AskPassphrase: func() ([]byte, error) {
		return f.passphrase("TRUSTSYNC_JOURNAL_PASSPHRASE", "Passphrase for your journal: ", true)
	}})
	err = journalErr(err)
	switch {
	case errors.Is(err, home.ErrJournalLocked):
		return nil, failf("your journal has a passphrase of its own: set TRUSTSYNC_JOURNAL_PASSPHRASE, or run the command on a terminal to type it")
	case errors.Is(err, store.ErrEncrypted):
		return nil, &userError{msg: "your journal is encrypted but its key is missing (was " + keys.HeaderFile + " removed?): nothing was read", err: err}
	case errors.Is(err, store.ErrWrongKey):
		return nil, &userError{msg: "the key does not open your journal: nothing was read or changed", err: err}
	case err != nil:
		dir, _ := f.Home()
		return nil, f.homeError(err, dir)
	}
	return j, nil
}

// withJournal runs fn on the opened journal and closes it.
func (f *Factory) withJournal(ctx context.Context, fn func(*journal.Journal) error) error {
	j, err := f.openJournal(ctx)
	if err != nil {
		return err
	}
	err = fn(j)
	return journalErr(errors.Join(err, j.Close()))
}

// journalErr gives a damaged journal the right advice: the journal never
// syncs, so the partner has no copy to get it back from.
func journalErr(err error) error {
	var damaged *trustsync.DamagedError
	if errors.As(err, &damaged) {
		d := *damaged
		d.What = strings.Replace(d.What, "store file", "your journal", 1)
		d.Hint = "a journal is never synced, so your partner has no copy of it: restore it from a backup (the damaged file is left as it is)"
		return &userError{msg: d.Error(), err: err}
	}
	return err
}

func newCmdJournalAdd(f *Factory) *cobra.Command {
	var mood int
	cmd := &cobra.Command{
		Use:   "add TEXT [--mood 1..5]",
		Short: "Write a private journal entry; prints its ID",
		Long: heredoc(`
			Write an entry in your private journal. TEXT "-" reads it from standard
			input. Nothing of it leaves this device unless you share it.
		`),
		Example: examples(`
			$ trustsync journal add "I was jealous today and did not say so." --mood 2
			$ trustsync journal add - < today.txt
		`),
		Args: exactArgs("TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Flags().Changed("mood") && (mood < 1 || mood > 5) {
				return usageErrorf("--mood must be from 1 to 5, not %d", mood)
			}
			text := args[0]
			if text == "-" {
				b, err := readAll(f.IOStreams.In)
				if err != nil {
					return err
				}
				text = b
			}
			if strings.TrimSpace(text) == "" {
				return usageErrorf("the entry is empty: nothing was saved")
			}
			return f.withJournal(cmd.Context(), func(j *journal.Journal) error {
				e, err := j.Add(cmd.Context(), text, trustsync.Mood(mood))
				if err != nil {
					return err
				}
				fmt.Fprintln(f.IOStreams.Out, e.ID)
				return nil
			})
		},
	}
	cmd.Flags().IntVar(&mood, "mood", 0, "how you feel, from 1 (very low) to 5 (very good)")
	return cmd
}

func readAll(r interface{ Read([]byte) (int, error) }) (string, error) {
	var b strings.Builder
	s := bufio.NewScanner(r)
	s.Buffer(make([]byte, 64<<10), 4<<20)
	for s.Scan() {
		b.WriteString(s.Text())
		b.WriteByte('\n')
	}
	if err := s.Err(); err != nil {
		return "", failf("cannot read standard input: %v", err)
	}
	return strings.TrimRight(b.String(), "\n"), nil
}

// jsonEntry is an entry as --json prints it.
type jsonEntry struct {
	ID        string      `json:"id"`
	Text      string      `json:"text"`
	Mood      int         `json:"mood,omitempty"`
	CreatedAt string      `json:"created_at"`
	Shared    []jsonShare `json:"shared"`
}

type jsonShare struct {
	CheckIn string `json:"checkin"`
	At      string `json:"at"`
}

func toJSONEntry(e journal.Entry) jsonEntry {
	j := jsonEntry{ID: e.ID, Text: e.Text, Mood: int(e.Mood), CreatedAt: jsonTime(e.CreatedAt), Shared: []jsonShare{}}
	for _, s := range e.Shared {
		j.Shared = append(j.Shared, jsonShare{CheckIn: s.CheckIn, At: jsonTime(s.At)})
	}
	return j
}

func firstLine(s string, n int) string {
	s, _, cut := strings.Cut(s, "\n")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	} else if cut {
		return s + " …"
	}
	return s
}

func newCmdJournalList(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list [--json]",
		Short: "List your journal entries, newest first",
		Long: heredoc(`
			List your journal entries, newest first, with their mood and whether
			you shared them. --json prints an array of objects with id, text,
			mood, created_at and shared (the check-ins each was copied into).
		`),
		Example: examples(`
			$ trustsync journal list
			$ trustsync journal list --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.withJournal(cmd.Context(), func(j *journal.Journal) error {
				es, err := j.Entries(cmd.Context())
				if err != nil {
					return err
				}
				if asJSON {
					out := make([]jsonEntry, 0, len(es))
					for _, e := range es {
						out = append(out, toJSONEntry(e))
					}
					return writeJSON(f.IOStreams.Out, out)
				}
				if len(es) == 0 {
					fmt.Fprintln(f.IOStreams.ErrOut, "Your journal is empty. Write with 'trustsync journal add TEXT'.")
					return nil
				}
				t := newTable(f.IOStreams.Out)
				fmt.Fprintln(t, "ID\tWRITTEN\tMOOD\tSHARED\tENTRY")
				now := f.Now()
				for _, e := range es {
					mood, shared := "-", "no"
					if e.Mood != 0 {
						mood = fmt.Sprintf("%d/5", e.Mood)
					}
					if len(e.Shared) > 0 {
						shared = "yes"
					}
					fmt.Fprintf(t, "%s\t%s\t%s\t%s\t%s\n", short(e.ID), relTime(now, e.CreatedAt), mood, shared, firstLine(e.Text, 60))
				}
				return t.Flush()
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func newCmdJournalShow(f *Factory) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show one journal entry in full",
		Long: heredoc(`
			Show one journal entry in full, and when it was shared, if it was.
		`),
		Example: examples(`
			$ trustsync journal show 4mzq2k7a
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkIDArg(args[0]); err != nil {
				return err
			}
			return f.withJournal(cmd.Context(), func(j *journal.Journal) error {
				e, err := j.Entry(cmd.Context(), args[0])
				if err != nil {
					return lookupError(err, "journal entry", args[0], journalList)
				}
				if asJSON {
					return writeJSON(f.IOStreams.Out, toJSONEntry(e))
				}
				w := f.IOStreams.Out
				fmt.Fprintf(w, "%s  written %s", e.ID, e.CreatedAt.Local().Format("Mon 2 Jan 2006 15:04"))
				if e.Mood != 0 {
					fmt.Fprintf(w, ", mood %d/5", e.Mood)
				}
				fmt.Fprintf(w, "\n\n%s\n", e.Text)
				for _, s := range e.Shared {
					fmt.Fprintf(w, "\nShared as check-in %s on %s.\n", short(s.CheckIn), s.At.Local().Format("Mon 2 Jan 2006 15:04"))
				}
				return nil
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// shareFlags are the flags of the two share commands.
type shareFlags struct {
	mood   int
	yes    bool
	dryRun bool
}

func (s *shareFlags) add(cmd *cobra.Command, moodHelp string) {
	cmd.Flags().IntVar(&s.mood, "mood", 0, moodHelp)
	cmd.Flags().BoolVar(&s.yes, "yes", false, "share without asking (for scripts: read the preview with --dry-run first)")
	cmd.Flags().BoolVar(&s.dryRun, "dry-run", false, "print exactly what would be shared, on standard output, and share nothing")
}

// share shows the preview, asks, and shares. It is the only code that
// copies anything out of the journal.
func (f *Factory) share(ctx context.Context, j *journal.Journal, pv journal.Preview, flags shareFlags) error {
	if flags.dryRun {
		fmt.Fprint(f.IOStreams.Out, pv.String())
		return nil
	}
	if !flags.yes && !f.IOStreams.StdinTTY {
		return failf("sharing copies private words to your partner, so it asks first: run it on a terminal to see the preview and confirm, or read it with --dry-run and then give --yes")
	}
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	if !flags.yes {
		w := f.IOStreams.ErrOut
		fmt.Fprintln(w, "This check-in will be added to your shared space, where your partner can read it:")
		fmt.Fprintln(w)
		fmt.Fprint(w, indent(pv.String(), "    "))
		fmt.Fprintln(w)
		fmt.Fprint(w, "Share it? A shared check-in cannot be taken back from your partner's devices. [y/N] ")
		line, _ := bufio.NewReader(f.IOStreams.In).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
			fmt.Fprintln(w, "Nothing was shared.")
			return nil
		}
	}
	id, err := j.Share(ctx, pv, sp)
	if err != nil {
		return err
	}
	fmt.Fprintln(f.IOStreams.Out, id)
	fmt.Fprintln(f.IOStreams.ErrOut, "Shared as a check-in. Your partner receives it at the next sync.")
	return nil
}

func newCmdJournalShare(f *Factory) *cobra.Command {
	var flags shareFlags
	cmd := &cobra.Command{
		Use:   "share ID [--mood 1..5] [--yes | --dry-run]",
		Short: "Copy one entry into a check-in for your partner, after showing it",
		Long: heredoc(`
			Copy a journal entry into a new check-in in the space you share: its
			text becomes the check-in's note, with the entry's mood or --mood.
			The entry itself stays private and unchanged; the journal remembers
			that it was shared.

			On a terminal, share shows exactly what your partner will read and asks
			before copying. Elsewhere it refuses unless --yes is given; --dry-run
			prints what would be shared and shares nothing. Prints the new
			check-in's ID.
		`),
		Example: examples(`
			$ trustsync journal share 4mzq2k7a
			$ trustsync journal share 4mzq2k7a --mood 3 --dry-run
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkIDArg(args[0]); err != nil {
				return err
			}
			if cmd.Flags().Changed("mood") && (flags.mood < 1 || flags.mood > 5) {
				return usageErrorf("--mood must be from 1 to 5, not %d", flags.mood)
			}
			return f.withJournal(cmd.Context(), func(j *journal.Journal) error {
				pv, err := j.PreviewEntry(cmd.Context(), args[0], trustsync.Mood(flags.mood))
				if errors.Is(err, journal.ErrNoMood) {
					return usageErrorf("this entry has no mood, and a check-in needs one: give --mood 1..5")
				}
				if err != nil {
					return lookupError(err, "journal entry", args[0], journalList)
				}
				return f.share(cmd.Context(), j, pv, flags)
			})
		},
	}
	flags.add(cmd, "the check-in's mood, from 1 to 5 (default: the entry's)")
	return cmd
}

func newCmdJournalPlan(f *Factory) *cobra.Command {
	cmd := newGroupCmd("plan <command>", "Your private self-care plan",
		heredoc(`
			Your self-care plan: the things you do to look after yourself. It is
			private like the rest of the journal.
		`),
		heredoc(`
			$ trustsync journal plan add "A walk after work"
			$ trustsync journal plan list
			$ trustsync journal plan drop 7hd2kq3m
		`))
	add := &cobra.Command{
		Use:   "add TEXT",
		Short: "Add a practice to your plan; prints its ID",
		Long: heredoc(`
			Add something you do to look after yourself to your plan. Prints the
			new practice's ID, for 'journal selfcare log --practice'.
		`),
		Example: examples(`
			$ trustsync journal plan add "A walk after work"
		`),
		Args: exactArgs("TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.withJournal(cmd.Context(), func(j *journal.Journal) error {
				p, err := j.AddPractice(cmd.Context(), args[0])
				if err != nil {
					return err
				}
				fmt.Fprintln(f.IOStreams.Out, p.ID)
				return nil
			})
		},
	}
	var all, asJSON bool
	list := &cobra.Command{
		Use:   "list [--all] [--json]",
		Short: "List the practices of your plan",
		Long: heredoc(`
			List the practices of your plan, oldest first; --all includes the ones
			you dropped.
		`),
		Example: examples(`
			$ trustsync journal plan list
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			return f.withJournal(cmd.Context(), func(j *journal.Journal) error {
				ps, err := j.Plan(cmd.Context(), all)
				if err != nil {
					return err
				}
				if asJSON {
					if ps == nil {
						ps = []journal.Practice{}
					}
					return writeJSON(f.IOStreams.Out, ps)
				}
				if len(ps) == 0 {
					fmt.Fprintln(f.IOStreams.ErrOut, "Your plan is empty. Add to it with 'trustsync journal plan add TEXT'.")
					return nil
				}
				t := newTable(f.IOStreams.Out)
				fmt.Fprintln(t, "ID\tPRACTICE")
				for _, p := range ps {
					text := p.Text
					if p.Dropped {
						text += " (dropped)"
					}
					fmt.Fprintf(t, "%s\t%s\n", short(p.ID), text)
				}
				return t.Flush()
			})
		},
	}
	list.Flags().BoolVar(&all, "all", false, "include dropped practices")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	drop := &cobra.Command{
		Use:   "drop ID",
		Short: "Take a practice out of your plan (its log stays)",
		Long: heredoc(`
			Take a practice out of your plan. What you logged for it stays in your
			self-care log; 'plan list --all' still shows it.
		`),
		Example: examples(`
			$ trustsync journal plan drop 7hd2kq3m
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkIDArg(args[0]); err != nil {
				return err
			}
			return f.withJournal(cmd.Context(), func(j *journal.Journal) error {
				_, err := j.DropPractice(cmd.Context(), args[0])
				return lookupError(err, "practice", args[0], "trustsync journal plan list")
			})
		},
	}
	cmd.AddCommand(add, list, drop)
	return cmd
}

func newCmdJournalSelfCare(f *Factory) *cobra.Command {
	cmd := newGroupCmd("selfcare <command>", "Log what you do for yourself, and share a summary if you wish",
		heredoc(`
			A private log of what you did to look after yourself, with or without a
			practice of your plan. 'selfcare share' offers your partner a summary:
			how often you did each practice. Your notes are never in it.
		`),
		heredoc(`
			$ trustsync journal selfcare log --practice 7hd2kq3m "felt lighter"
			$ trustsync journal selfcare list --days 7
			$ trustsync journal selfcare share --mood 4 --days 7
		`))
	var practice string
	logCmd := &cobra.Command{
		Use:   "log [NOTE] [--practice ID]",
		Short: "Log self-care; prints its ID",
		Long: heredoc(`
			Log something you did to look after yourself: a note, a practice of
			your plan, or both. Prints the new log entry's ID.
		`),
		Example: examples(`
			$ trustsync journal selfcare log --practice 7hd2kq3m "felt lighter"
			$ trustsync journal selfcare log "an early night"
		`),
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			note := ""
			if len(args) == 1 {
				note = args[0]
			}
			if strings.TrimSpace(note) == "" && practice == "" {
				return usageErrorf("give a NOTE, a --practice ID, or both")
			}
			return f.withJournal(cmd.Context(), func(j *journal.Journal) error {
				c, err := j.LogCare(cmd.Context(), note, practice)
				if err != nil {
					return lookupError(err, "practice", practice, "trustsync journal plan list")
				}
				fmt.Fprintln(f.IOStreams.Out, c.ID)
				return nil
			})
		},
	}
	logCmd.Flags().StringVar(&practice, "practice", "", "the `ID` of a practice of your plan")
	var days int
	var asJSON bool
	list := &cobra.Command{
		Use:   "list [--days N] [--json]",
		Short: "Show your self-care log, newest first",
		Long: heredoc(`
			Show your self-care log, newest first, all of it or the last N days.
		`),
		Example: examples(`
			$ trustsync journal selfcare list --days 7
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			since, err := sinceDays(f, cmd, days)
			if err != nil {
				return err
			}
			return f.withJournal(cmd.Context(), func(j *journal.Journal) error {
				cs, err := j.CareLog(cmd.Context(), since)
				if err != nil {
					return err
				}
				plan, err := j.Plan(cmd.Context(), true)
				if err != nil {
					return err
				}
				if asJSON {
					if cs == nil {
						cs = []journal.Care{}
					}
					return writeJSON(f.IOStreams.Out, cs)
				}
				names := map[string]string{}
				for _, p := range plan {
					names[p.ID] = p.Text
				}
				t := newTable(f.IOStreams.Out)
				fmt.Fprintln(t, "ID\tWHEN\tPRACTICE\tNOTE")
				for _, c := range cs {
					p := names[c.Practice]
					if p == "" {
						p = "-"
					}
					fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", short(c.ID), relTime(f.Now(), c.At), p, firstLine(c.Note, 50))
				}
				return t.Flush()
			})
		},
	}
	list.Flags().IntVar(&days, "days", 0, "only the last `N` days (default: all)")
	list.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	var flags shareFlags
	var shareDays int
	share := &cobra.Command{
		Use:   "share --mood 1..5 [--days N] [--yes | --dry-run]",
		Short: "Share a summary of your self-care as a check-in, after showing it",
		Long: heredoc(`
			Offer your partner a summary of the last N days (default 7): each
			practice of your plan and how often you did it, and how many other
			things you logged. Your notes are never included. Asks before sharing,
			as 'journal share' does.
		`),
		Example: examples(`
			$ trustsync journal selfcare share --mood 4 --dry-run
			$ trustsync journal selfcare share --mood 4 --days 14
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if flags.mood < 1 || flags.mood > 5 {
				return usageErrorf("--mood 1..5 is required: a check-in needs a mood")
			}
			since, err := sinceDays(f, cmd, shareDays)
			if err != nil {
				return err
			}
			return f.withJournal(cmd.Context(), func(j *journal.Journal) error {
				pv, err := j.PreviewCare(cmd.Context(), since, trustsync.Mood(flags.mood))
				if err != nil {
					return err
				}
				return f.share(cmd.Context(), j, pv, flags)
			})
		},
	}
	flags.add(share, "the check-in's mood, from 1 to 5")
	share.Flags().IntVar(&shareDays, "days", 7, "summarise the last `N` days")
	cmd.AddCommand(logCmd, list, share)
	return cmd
}

// sinceDays is the start of the last n days, or the zero time for n = 0
// when the flag was not given.
func sinceDays(f *Factory, cmd *cobra.Command, n int) (time.Time, error) {
	if n < 0 || (n == 0 && cmd.Flags().Changed("days")) {
		return time.Time{}, usageErrorf("--days must be 1 or more, not %d", n)
	}
	if n == 0 {
		return time.Time{}, nil
	}
	return f.Now().AddDate(0, 0, -n), nil
}

func newCmdJournalPassphrase(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:   "passphrase",
		Short: "Give your journal a passphrase of its own",
		Long: heredoc(`
			Give your journal a passphrase of its own, different from the home's.
			Every journal command then asks for it (or reads
			TRUSTSYNC_JOURNAL_PASSPHRASE), even while the home is unlocked, and it
			is never kept: someone at your unlocked terminal can use the shared
			space but cannot read your journal.

			The journal is rewritten under the new key and the old copy deleted.
			Deleted files may linger on the disk itself until overwritten; set the
			passphrase before writing what must stay unreadable. Setting a second
			passphrase over the first is not possible yet.
		`),
		Example: examples(`
			$ trustsync journal passphrase
			$ TRUSTSYNC_JOURNAL_PASSPHRASE=... trustsync journal passphrase
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			h, err := f.open(ctx)
			if err != nil {
				return err
			}
			if h.JournalHasPassphrase() {
				return failf("your journal already has a passphrase of its own: nothing was changed")
			}
			old, err := f.openJournal(ctx) // refuses a damaged journal before asking
			if err != nil {
				return err
			}
			old.Close()
			p, err := f.newPassphrase("TRUSTSYNC_JOURNAL_PASSPHRASE", "your journal")
			if err != nil {
				return err
			}
			if err := h.SetJournalPassphrase(ctx, p, f.kdfParams()); err != nil {
				return journalErr(err)
			}
			fmt.Fprintln(f.IOStreams.ErrOut, "Your journal now has a passphrase of its own. Journal commands will ask for it every time.")
			return nil
		},
	}
}
