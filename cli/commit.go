package cli

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

const commitList = "trustsync commit list"

// NewCmdCommit returns 'trustsync commit' and its subcommands.
func NewCmdCommit(f *Factory) *cobra.Command {
	cmd := newGroupCmd("commit <command>",
		"Make small promises and note, plainly, when they were kept or missed",
		heredoc(`
			A commitment is a small, concrete promise one of you makes: "I will
			tell you when my plans change". Trust tends to grow back through
			many small promises kept, more than through big words.

			Either of you can note a time a commitment was kept, or missed, with
			a few words; the other acknowledges it. What you get is a plain
			timeline of dates and words. trustsync never counts them, never
			keeps a streak and never turns them into a score or a percentage.
		`),
		heredoc(`
			$ trustsync commit add "I will tell you when my plans change"
			$ trustsync commit kept 4mfq2kd7 --note "called before the late meeting"
			$ trustsync commit missed 4mfq2kd7 --note "forgot on Friday; I am sorry"
			$ trustsync commit ack ty6p3x2a --reply "thank you for saying so"
			$ trustsync commit show 4mfq2kd7
		`))
	cmd.AddCommand(
		NewCmdCommitAdd(f, nil),
		NewCmdCommitList(f, nil),
		NewCmdCommitShow(f, nil),
		NewCmdCommitRecord(f, true, nil),
		NewCmdCommitRecord(f, false, nil),
		NewCmdCommitAck(f, nil),
	)
	return cmd
}

// CommitAddOptions are the inputs of 'trustsync commit add'.
type CommitAddOptions struct {
	Factory *Factory
	Text    string
}

// NewCmdCommitAdd returns 'trustsync commit add'.
func NewCmdCommitAdd(f *Factory, runF func(*CommitAddOptions) error) *cobra.Command {
	opts := &CommitAddOptions{Factory: f}
	return &cobra.Command{
		Use:   "add TEXT",
		Short: "Make a commitment; prints its ID",
		Long: heredoc(`
			Make a small commitment in your own words. Small and concrete works
			best: something you can keep this week, that your partner would
			notice.

			Prints the new commitment's ID on standard output.
		`),
		Example: examples(`
			$ trustsync commit add "I will put my phone away at dinner"
			$ id=$(trustsync commit add "I will text you when I leave work")
		`),
		Args: exactArgs("TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Text = args[0]
			if runF != nil {
				return runF(opts)
			}
			return commitAddRun(cmd.Context(), opts)
		},
	}
}

func commitAddRun(ctx context.Context, opts *CommitAddOptions) error {
	if strings.TrimSpace(opts.Text) == "" {
		return failf("the commitment is empty: write the promise you want to make")
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	id, err := sp.AddCommitment(ctx, opts.Text)
	if err != nil {
		return err
	}
	fmt.Fprintln(opts.Factory.IOStreams.Out, id)
	fmt.Fprintf(opts.Factory.IOStreams.ErrOut, "Committed. Note how it goes with 'trustsync commit kept %s' or 'commit missed %s'.\n", short(id), short(id))
	return nil
}

// CommitListOptions are the inputs of 'trustsync commit list'.
type CommitListOptions struct {
	Factory *Factory
	JSON    bool
}

// NewCmdCommitList returns 'trustsync commit list'.
func NewCmdCommitList(f *Factory, runF func(*CommitListOptions) error) *cobra.Command {
	opts := &CommitListOptions{Factory: f}
	cmd := &cobra.Command{
		Use:     "list [--json]",
		Aliases: []string{"ls"},
		Short:   "List commitments, with the latest note on each",
		Long: heredoc(`
			List the commitments of both of you, oldest first, each with the
			latest time it was noted as kept or missed.

			--json prints an array of objects with the fields id, text, made_by,
			made_at and entries (each with id, outcome, note, by, at,
			acknowledged_by and acks).
		`),
		Example: examples(`
			$ trustsync commit list
			$ trustsync commit list --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return commitListRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array")
	return cmd
}

func commitListRun(ctx context.Context, opts *CommitListOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	cs, err := sp.Commitments(ctx)
	if err != nil {
		return err
	}
	if opts.JSON {
		out := []commitmentJSON{}
		for _, c := range cs {
			out = append(out, commitmentView(c))
		}
		return writeJSON(f.IOStreams.Out, out)
	}
	if len(cs) == 0 {
		fmt.Fprintln(f.IOStreams.ErrOut, "No commitments yet. Make one with 'trustsync commit add TEXT'.")
		return nil
	}
	now := f.Now()
	t := newTable(f.IOStreams.Out)
	fmt.Fprintln(t, "ID\tMADE BY\tLATEST\tCOMMITMENT")
	for _, c := range cs {
		latest := "nothing noted yet"
		if n := len(c.Entries); n > 0 {
			e := c.Entries[n-1]
			latest = fmt.Sprintf("%s, %s", outcome(e), relTime(now, e.At))
		}
		fmt.Fprintf(t, "%s\t%s\t%s\t%s\n", short(c.ID), c.MadeBy.Name, latest, oneLine(c.Text))
	}
	return t.Flush()
}

func outcome(e trustsync.CommitmentEntry) string {
	if e.Kept {
		return "kept"
	}
	return "missed"
}

// CommitShowOptions are the inputs of 'trustsync commit show'.
type CommitShowOptions struct {
	Factory *Factory
	ID      string
	JSON    bool
}

// NewCmdCommitShow returns 'trustsync commit show'.
func NewCmdCommitShow(f *Factory, runF func(*CommitShowOptions) error) *cobra.Command {
	opts := &CommitShowOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "show ID [--json]",
		Short: "Show a commitment's timeline, its setbacks and its history",
		Long: heredoc(`
			Show one commitment: who made it, every time it was noted as kept or
			missed (oldest first) with each acknowledgement, the setbacks linked
			to it, and its history.

			--json prints one object with the fields of 'commit list --json',
			setbacks and history.
		`),
		Example: examples(`
			$ trustsync commit show 4mfq2kd7
			$ trustsync commit show 4mfq2k --json
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return commitShowRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON object")
	return cmd
}

func commitShowRun(ctx context.Context, opts *CommitShowOptions) error {
	f := opts.Factory
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	c, err := sp.Commitment(ctx, opts.ID)
	if err != nil {
		return lookupError(err, "commitment", opts.ID, commitList)
	}
	sbs, err := sp.SetbacksAbout(ctx, c.ID)
	if err != nil {
		return err
	}
	hist, err := sp.History(ctx, crdt.HistoryOptions{Item: c.ID})
	if err != nil {
		return err
	}
	r, err := loadRoster(ctx, sp)
	if err != nil {
		return err
	}
	if opts.JSON {
		v := commitmentView(c)
		v.Setbacks = []setbackJSON{}
		for _, sb := range sbs {
			v.Setbacks = append(v.Setbacks, setbackView(sb, c.Text))
		}
		v.History = []changeJSON{}
		for _, h := range hist {
			v.History = append(v.History, r.changeJSON(h))
		}
		return writeJSON(f.IOStreams.Out, v)
	}
	w := f.IOStreams.Out
	now := f.Now()
	fmt.Fprintf(w, "%s %s\n\n", palette{f.IOStreams.Color}.bold("Commitment"), c.ID)
	fmt.Fprintf(w, "%s\n\n", indent(c.Text, "    "))
	fmt.Fprintf(w, "Made by %s, %s.\n", c.MadeBy.Name, relTime(now, c.MadeAt))
	if len(c.Entries) == 0 {
		fmt.Fprintf(w, "\nNothing noted yet: 'trustsync commit kept %s' or 'commit missed %s' when there is something to say.\n", short(c.ID), short(c.ID))
	} else {
		fmt.Fprintln(w, "\nTimeline")
		for _, e := range c.Entries {
			fmt.Fprintf(w, "  %s  %s, noted by %s (entry %s)\n", e.At.Local().Format("Mon 2 Jan 2006"), outcome(e), e.By.Name, short(e.ID))
			if e.Note != "" {
				fmt.Fprintf(w, "%s\n", indent(e.Note, "      "))
			}
			writeAcks(w, now, e.Acks, "      ")
		}
	}
	if err := writeSetbacks(w, now, sbs); err != nil {
		return err
	}
	return writeHistory(w, r, now, hist, "\nHistory\n")
}

// writeAcks prints who acknowledged something and their replies, or that
// nobody has yet.
func writeAcks(w io.Writer, now time.Time, acks []trustsync.Ack, prefix string) {
	if len(acks) == 0 {
		fmt.Fprintf(w, "%sNot acknowledged yet.\n", prefix)
		return
	}
	for _, a := range acks {
		fmt.Fprintf(w, "%sAcknowledged by %s, %s", prefix, a.By.Name, relTime(now, a.At))
		if a.Reply != "" {
			fmt.Fprintf(w, ": %s\n", oneLine(a.Reply))
		} else {
			fmt.Fprintln(w, ".")
		}
	}
}

// CommitRecordOptions are the inputs of 'trustsync commit kept' and
// 'trustsync commit missed'.
type CommitRecordOptions struct {
	Factory *Factory
	ID      string
	Kept    bool
	Note    string
}

// NewCmdCommitRecord returns 'trustsync commit kept' (kept set) or
// 'trustsync commit missed'.
func NewCmdCommitRecord(f *Factory, kept bool, runF func(*CommitRecordOptions) error) *cobra.Command {
	opts := &CommitRecordOptions{Factory: f, Kept: kept}
	cmd := &cobra.Command{
		Use:   "kept ID [--note TEXT]",
		Short: "Note a time a commitment was kept; prints the entry's ID",
		Long: heredoc(`
			Note, with today's date, that a commitment was kept, with a few words
			if you like. Either of you can note it; the other acknowledges it
			with 'trustsync commit ack ENTRY'.

			Prints the new entry's ID on standard output.
		`),
		Example: examples(`
			$ trustsync commit kept 4mfq2kd7
			$ trustsync commit kept 4mfq2kd7 --note "you called before the meeting ran late"
		`),
		Args: exactArgs("ID"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID = args[0]
			if runF != nil {
				return runF(opts)
			}
			return commitRecordRun(cmd.Context(), opts)
		},
	}
	if !kept {
		cmd.Use = "missed ID [--note TEXT]"
		cmd.Short = "Note a time a commitment was missed; prints the entry's ID"
		cmd.Long = heredoc(`
			Note, with today's date, that a commitment was missed. Saying so
			yourself, before you are asked, is part of keeping trust: a missed
			promise owned is different from one hidden. Either of you can note
			it; the other acknowledges it with 'trustsync commit ack ENTRY'.

			Prints the new entry's ID on standard output.
		`)
		cmd.Example = examples(`
			$ trustsync commit missed 4mfq2kd7 --note "I forgot to text on Friday. I am sorry."
		`)
	}
	cmd.Flags().StringVarP(&opts.Note, "note", "n", "", "a few words, as `TEXT`")
	return cmd
}

func commitRecordRun(ctx context.Context, opts *CommitRecordOptions) error {
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	eid, err := sp.RecordCommitment(ctx, opts.ID, opts.Kept, opts.Note)
	if err != nil {
		return lookupError(err, "commitment", opts.ID, commitList)
	}
	fmt.Fprintln(opts.Factory.IOStreams.Out, eid)
	if opts.Kept {
		fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "Noted as kept. Your partner can acknowledge it.")
	} else {
		fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "Noted as missed. Owning it is part of rebuilding trust; your partner can acknowledge it.")
	}
	return nil
}

// CommitAckOptions are the inputs of 'trustsync commit ack'.
type CommitAckOptions struct {
	Factory *Factory
	Entry   string
	Reply   string
}

// NewCmdCommitAck returns 'trustsync commit ack'.
func NewCmdCommitAck(f *Factory, runF func(*CommitAckOptions) error) *cobra.Command {
	opts := &CommitAckOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "ack ENTRY [--reply TEXT]",
		Short: "Acknowledge an entry your partner noted",
		Long: heredoc(`
			Acknowledge a time your partner noted a commitment as kept or
			missed: it tells them you saw it. A reply is optional. ENTRY is the
			entry's ID, printed by 'commit kept' or 'commit missed' and shown by
			'trustsync commit show'.
		`),
		Example: examples(`
			$ trustsync commit ack ty6p3x2a
			$ trustsync commit ack ty6p3x2a --reply "I noticed. Thank you."
		`),
		Args: exactArgs("ENTRY"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Entry = args[0]
			if runF != nil {
				return runF(opts)
			}
			return commitAckRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Reply, "reply", "r", "", "a few words back, as `TEXT`")
	return cmd
}

func commitAckRun(ctx context.Context, opts *CommitAckOptions) error {
	if err := checkIDArg(opts.Entry); err != nil {
		return err
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	_, e, err := sp.CommitmentEntry(ctx, opts.Entry)
	if err != nil {
		return lookupError(err, "commitment entry", opts.Entry, commitList)
	}
	if e.By.ID == sp.Self().MemberID {
		return failf("entry %s is one you noted: your partner acknowledges it once it reaches them", short(e.ID))
	}
	if err := sp.AckCommitmentEntry(ctx, e.ID, opts.Reply); err != nil {
		return lookupError(err, "commitment entry", opts.Entry, commitList)
	}
	fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "Acknowledged.")
	return nil
}

type commitmentJSON struct {
	ID       string        `json:"id"`
	Text     string        `json:"text"`
	MadeBy   string        `json:"made_by"`
	MadeAt   string        `json:"made_at"`
	Entries  []entryJSON   `json:"entries"`
	Setbacks []setbackJSON `json:"setbacks,omitempty"`
	History  []changeJSON  `json:"history,omitempty"`
}

type entryJSON struct {
	ID             string    `json:"id"`
	Outcome        string    `json:"outcome"`
	Note           string    `json:"note"`
	By             string    `json:"by"`
	At             string    `json:"at"`
	AcknowledgedBy []string  `json:"acknowledged_by"`
	Acks           []ackJSON `json:"acks"`
}

func acksView(acks []trustsync.Ack) ([]string, []ackJSON) {
	names, out := []string{}, []ackJSON{}
	for _, a := range acks {
		names = append(names, a.By.Name)
		out = append(out, ackJSON{By: a.By.Name, At: jsonTime(a.At), Reply: a.Reply})
	}
	return names, out
}

func commitmentView(c trustsync.Commitment) commitmentJSON {
	v := commitmentJSON{ID: c.ID, Text: c.Text, MadeBy: c.MadeBy.Name, MadeAt: jsonTime(c.MadeAt), Entries: []entryJSON{}}
	for _, e := range c.Entries {
		ev := entryJSON{ID: e.ID, Outcome: outcome(e), Note: e.Note, By: e.By.Name, At: jsonTime(e.At)}
		ev.AcknowledgedBy, ev.Acks = acksView(e.Acks)
		v.Entries = append(v.Entries, ev)
	}
	return v
}

// practices is what an export holds of the practices of rebuilding trust:
// commitments, apologies, setbacks, the rhythm, questions and moments.
type practices struct {
	commitments []trustsync.Commitment
	apologies   []trustsync.Apology
	setbacks    []trustsync.Setback
	about       map[string]string
	rhythm      *rhythmJSON
	questions   []trustsync.Question
	moments     []trustsync.Moment
}

func loadPractices(ctx context.Context, sp *crdt.Space) (*practices, error) {
	var (
		p   practices
		err error
	)
	if p.commitments, err = sp.Commitments(ctx); err != nil {
		return nil, err
	}
	if p.apologies, err = sp.Apologies(ctx); err != nil {
		return nil, err
	}
	if p.setbacks, err = sp.Setbacks(ctx); err != nil {
		return nil, err
	}
	if p.about, err = aboutTexts(ctx, sp); err != nil {
		return nil, err
	}
	if p.rhythm, err = loadRhythm(ctx, sp); err != nil {
		return nil, err
	}
	if p.questions, err = sp.Questions(ctx); err != nil {
		return nil, err
	}
	if p.moments, err = sp.Moments(ctx); err != nil {
		return nil, err
	}
	return &p, nil
}

// exported keeps of a question only the answers both partners can read:
// an export never carries an answer still sealed, not even one's own.
func exported(q trustsync.Question) trustsync.Question {
	for i := range q.Answers {
		if !q.Answers[i].Revealed {
			q.Answers[i].Text, q.Answers[i].Readable = "", false
		}
	}
	return q
}

// The practices' parts of an export, one function per kind for the table
// of kinds in export.go: the JSON value, and the markdown section body.

func commitmentsJSON(e *everything) any {
	out := []commitmentJSON{}
	for _, c := range e.practices.commitments {
		out = append(out, commitmentView(c))
	}
	return out
}

func apologiesJSON(e *everything) any {
	out := []apologyJSON{}
	for _, a := range e.practices.apologies {
		out = append(out, apologyView(a))
	}
	return out
}

func setbacksJSON(e *everything) any {
	out := []setbackJSON{}
	for _, sb := range e.practices.setbacks {
		out = append(out, setbackView(sb, e.practices.about[sb.About.ID]))
	}
	return out
}

func rhythmExportJSON(e *everything) any { return e.practices.rhythm }

func questionsJSON(e *everything) any {
	out := []questionJSON{}
	for _, q := range e.practices.questions {
		out = append(out, questionView(exported(q)))
	}
	return out
}

func momentsJSON(e *everything) any {
	out := []momentJSON{}
	for _, m := range e.practices.moments {
		out = append(out, momentView(m))
	}
	return out
}

func rhythmMarkdown(e *everything, md *mdWriter) {
	r := e.practices.rhythm
	if r == nil {
		md.p("No rhythm set.\n\n")
		return
	}
	md.p("Check in %s. %s\n\n", mdEscape(r.Cadence), mdEscape(rhythmStatus(r)))
}

func commitmentsMarkdown(e *everything, md *mdWriter) {
	cs := e.practices.commitments
	if len(cs) == 0 {
		md.p("No commitments yet.\n\n")
	}
	for _, c := range cs {
		md.p("### %s\n\n", mdEscape(oneLine(c.Text)))
		md.p("Made by %s on %s.\n\n", mdEscape(c.MadeBy.Name), md.stamp(c.MadeAt))
		for _, en := range c.Entries {
			md.p("- %s: %s, noted by %s", md.stamp(en.At), outcome(en), mdEscape(en.By.Name))
			if en.Note != "" {
				md.p(": %s", mdEscape(oneLine(en.Note)))
			}
			md.p(".")
			for _, a := range en.Acks {
				md.p(" Acknowledged by %s", mdEscape(a.By.Name))
				if a.Reply != "" {
					md.p(": %s", mdEscape(oneLine(a.Reply)))
				}
				md.p(".")
			}
			md.p("\n")
		}
		if len(c.Entries) > 0 {
			md.p("\n")
		}
	}
}

func apologiesMarkdown(e *everything, md *mdWriter) {
	as := e.practices.apologies
	if len(as) == 0 {
		md.p("No apologies written.\n\n")
	}
	for _, a := range as {
		md.p("### From %s, %s\n\n", mdEscape(a.Author.Name), md.stamp(a.WrittenAt))
		for i, part := range []string{a.Happened, a.Impact, a.Responsibility, a.Different} {
			if part != "" {
				md.p("%s:\n\n%s\n\n", headingWords(apologyHeadings[i]), mdQuote(part))
			}
		}
		if len(a.Acks) == 0 {
			md.p("Not acknowledged.\n\n")
		}
		for _, ack := range a.Acks {
			md.p("Acknowledged by %s on %s", mdEscape(ack.By.Name), md.stamp(ack.At))
			if ack.Reply != "" {
				md.p(", who replied:\n\n%s\n\n", mdQuote(ack.Reply))
			} else {
				md.p(".\n\n")
			}
		}
	}
}

func setbacksMarkdown(e *everything, md *mdWriter) {
	sbs := e.practices.setbacks
	if len(sbs) == 0 {
		md.p("No setbacks noted.\n\n")
	}
	for _, sb := range sbs {
		md.p("### %s\n\n", mdEscape(oneLine(sb.Text)))
		about := "(not on this device)"
		if t := e.practices.about[sb.About.ID]; t != "" {
			about = "\u201c" + oneLine(t) + "\u201d"
		}
		md.p("Noted by %s on %s, about the %s %s.\n\n", mdEscape(sb.AddedBy.Name), md.stamp(sb.AddedAt), kindWord(sb.About.Kind), mdEscape(about))
		for _, fe := range sb.Feelings {
			md.p("- %s felt: %s\n", mdEscape(fe.By.Name), mdEscape(oneLine(fe.Text)))
		}
		for i, pl := range sb.Plans {
			label := "Earlier plan"
			if i == len(sb.Plans)-1 {
				label = "Plan now"
			}
			md.p("- %s (%s, %s): %s\n", label, mdEscape(pl.By.Name), md.stamp(pl.At), mdEscape(oneLine(pl.Text)))
		}
		md.p("\n")
	}
}

func questionsMarkdown(e *everything, md *mdWriter) {
	qs := e.practices.questions
	if len(qs) == 0 {
		md.p("No questions yet.\n\n")
	}
	for _, q := range qs {
		q = exported(q)
		md.p("### %s\n\n", mdEscape(oneLine(q.Text)))
		md.p("Asked by %s on %s.\n\n", mdEscape(q.AskedBy.Name), md.stamp(q.AskedAt))
		for _, a := range q.Answers {
			if a.Readable {
				md.p("- %s: %s\n", mdEscape(a.By.Name), mdEscape(oneLine(a.Text)))
			} else {
				md.p("- %s answered; the answer is sealed until both have answered.\n", mdEscape(a.By.Name))
			}
		}
		if len(q.Answers) > 0 {
			md.p("\n")
		}
	}
}

func momentsMarkdown(e *everything, md *mdWriter) {
	ms := e.practices.moments
	if len(ms) == 0 {
		md.p("None noted yet.\n\n")
	}
	for _, m := range ms {
		kind := "a good moment"
		if m.Thanks {
			kind = "thanks"
		}
		md.p("- %s, %s (%s): %s\n", md.stamp(m.At), mdEscape(m.By.Name), kind, mdEscape(oneLine(m.Text)))
	}
	if len(ms) > 0 {
		md.p("\n")
	}
}
