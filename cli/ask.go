package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/trustsync/trustsync"
	"github.com/trustsync/trustsync/crdt"
)

const questionsList = "trustsync questions"

// AskOptions are the inputs of 'trustsync ask'.
type AskOptions struct {
	Factory *Factory
	Text    string
}

// NewCmdAsk returns 'trustsync ask'.
func NewCmdAsk(f *Factory, runF func(*AskOptions) error) *cobra.Command {
	opts := &AskOptions{Factory: f}
	return &cobra.Command{
		Use:   "ask TEXT",
		Short: "Ask a question you both answer before either reads the other's; prints its ID",
		Long: heredoc(`
			Ask a question that both of you answer ('trustsync answer'), where
			neither of you can read the other's answer until both have
			answered. It works without any server: each answer travels sealed,
			and the device that wrote it shares the key only once it has seen
			the other answer.

			What the seal does not do: it cannot tell a sincere answer from a
			few words typed just to see the other's; the device you answer on
			keeps the key (and so can read your answer) until it shares it;
			and both of you see who answered and when.

			Prints the new question's ID on standard output.
		`),
		Example: examples(`
			$ trustsync ask "What is one moment with me you would like to live again?"
			$ trustsync answer 6wq3z8jd "The walk by the river last spring"
			$ trustsync questions
		`),
		Args: exactArgs("TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Text = args[0]
			if runF != nil {
				return runF(opts)
			}
			return askRun(cmd.Context(), opts)
		},
	}
}

func askRun(ctx context.Context, opts *AskOptions) error {
	if strings.TrimSpace(opts.Text) == "" {
		return failf("the question is empty: write what you would like both of you to answer")
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	id, err := sp.AskQuestion(ctx, opts.Text)
	if err != nil {
		return err
	}
	fmt.Fprintln(opts.Factory.IOStreams.Out, id)
	fmt.Fprintf(opts.Factory.IOStreams.ErrOut, "Asked. Answer it yourself with 'trustsync answer %s TEXT'.\n", short(id))
	return nil
}

// AnswerOptions are the inputs of 'trustsync answer'.
type AnswerOptions struct {
	Factory *Factory
	ID      string
	Text    string
}

// NewCmdAnswer returns 'trustsync answer'.
func NewCmdAnswer(f *Factory, runF func(*AnswerOptions) error) *cobra.Command {
	opts := &AnswerOptions{Factory: f}
	return &cobra.Command{
		Use:   "answer ID TEXT",
		Short: "Answer a question; it stays sealed until both of you have answered",
		Long: heredoc(`
			Answer a question asked with 'trustsync ask'. Your answer is sealed
			until your partner has answered too; then each of you can read both.
			An answer cannot be changed once given.

			Answer on the device you use most: only that device can unseal your
			answer, and it does so by itself as soon as it has your partner's
			answer (when it syncs, or at the next trustsync command).
		`),
		Example: examples(`
			$ trustsync answer 6wq3z8jd "The walk by the river last spring"
		`),
		Args: exactArgs("ID", "TEXT"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.ID, opts.Text = args[0], args[1]
			if runF != nil {
				return runF(opts)
			}
			return answerRun(cmd.Context(), opts)
		},
	}
}

func answerRun(ctx context.Context, opts *AnswerOptions) error {
	if err := checkIDArg(opts.ID); err != nil {
		return err
	}
	if strings.TrimSpace(opts.Text) == "" {
		return failf("the answer is empty: write your answer, in a word or a few")
	}
	sp, err := opts.Factory.Space(ctx)
	if err != nil {
		return err
	}
	if err := sp.AnswerQuestion(ctx, opts.ID, opts.Text); err != nil {
		if errors.Is(err, crdt.ErrAnswered) {
			return failf("you have answered question %s already; an answer cannot be changed", opts.ID)
		}
		return lookupError(err, "question", opts.ID, questionsList)
	}
	q, err := sp.Question(ctx, opts.ID)
	if err != nil {
		return err
	}
	if q.Both {
		fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "Answered. You have both answered: each answer opens once the device that wrote it has seen the other, at the latest after your next sync ('trustsync questions').")
	} else {
		fmt.Fprintln(opts.Factory.IOStreams.ErrOut, "Answered. It stays sealed until your partner answers too.")
	}
	return nil
}

// QuestionsOptions are the inputs of 'trustsync questions'.
type QuestionsOptions struct {
	Factory *Factory
	JSON    bool
}

// NewCmdQuestions returns 'trustsync questions'.
func NewCmdQuestions(f *Factory, runF func(*QuestionsOptions) error) *cobra.Command {
	opts := &QuestionsOptions{Factory: f}
	cmd := &cobra.Command{
		Use:   "questions [--json]",
		Short: "List the questions you answer together, with the answers you can read",
		Long: heredoc(`
			List the questions, newest first, each with both answers once both
			of you have answered, and where it stands before that. Your own
			answer shows on the device you wrote it on.

			--json prints an array of objects with the fields id, text,
			asked_by, asked_at, both_answered and answers (each with by, at,
			revealed, readable, and text when readable).
		`),
		Example: examples(`
			$ trustsync questions
			$ trustsync questions --json
		`),
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return questionsRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print a JSON array")
	return cmd
}

func questionsRun(ctx context.Context, opts *QuestionsOptions) error {
	f := opts.Factory
	sp, err := f.Space(ctx)
	if err != nil {
		return err
	}
	qs, err := sp.Questions(ctx)
	if err != nil {
		return err
	}
	if opts.JSON {
		out := []questionJSON{}
		for _, q := range qs {
			out = append(out, questionView(q))
		}
		return writeJSON(f.IOStreams.Out, out)
	}
	if len(qs) == 0 {
		fmt.Fprintln(f.IOStreams.ErrOut, "No questions yet. Ask one with 'trustsync ask TEXT'.")
		return nil
	}
	r, err := loadRoster(ctx, sp)
	if err != nil {
		return err
	}
	me := sp.Self().MemberID
	w := f.IOStreams.Out
	now := f.Now()
	for i, q := range qs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "%s  asked by %s, %s\n%s\n", short(q.ID), q.AskedBy.Name, relTime(now, q.AskedAt), indent(q.Text, "    "))
		answered := map[string]bool{}
		for _, a := range q.Answers {
			answered[a.By.ID] = true
		}
		for _, a := range q.Answers {
			switch {
			case a.Readable && a.Revealed:
				fmt.Fprintf(w, "  %s: %s\n", a.By.Name, oneLine(a.Text))
			case a.Readable:
				fmt.Fprintf(w, "  %s (you, sealed until %s): %s\n", a.By.Name, partnerWord(r), oneLine(a.Text))
			case a.By.ID == me:
				fmt.Fprintf(w, "  %s: answered on another of your devices; sealed until both have answered\n", a.By.Name)
			case answered[me]:
				fmt.Fprintf(w, "  %s: answered, %s; sealed until their device has seen your answer\n", a.By.Name, relTime(now, a.At))
			default:
				fmt.Fprintf(w, "  %s: answered, %s; sealed until you answer ('trustsync answer %s TEXT')\n", a.By.Name, relTime(now, a.At), short(q.ID))
			}
		}
		for _, m := range r.selfFirst() {
			if answered[m.ID] {
				continue
			}
			if m.ID == me {
				fmt.Fprintf(w, "  %s: not answered yet ('trustsync answer %s TEXT')\n", m.Name, short(q.ID))
			} else {
				fmt.Fprintf(w, "  %s: not answered yet\n", m.Name)
			}
		}
	}
	return nil
}

// partnerWord names the partner, or says "your partner" before pairing.
func partnerWord(r *roster) string {
	if p, ok := r.partner(); ok {
		return p.Name + " answers"
	}
	return "your partner answers"
}

type questionJSON struct {
	ID      string       `json:"id"`
	Text    string       `json:"text"`
	AskedBy string       `json:"asked_by"`
	AskedAt string       `json:"asked_at"`
	Both    bool         `json:"both_answered"`
	Answers []answerJSON `json:"answers"`
}

type answerJSON struct {
	By       string `json:"by"`
	At       string `json:"at"`
	Revealed bool   `json:"revealed"`
	Readable bool   `json:"readable"`
	Text     string `json:"text,omitempty"`
}

func questionView(q trustsync.Question) questionJSON {
	v := questionJSON{ID: q.ID, Text: q.Text, AskedBy: q.AskedBy.Name, AskedAt: jsonTime(q.AskedAt), Both: q.Both, Answers: []answerJSON{}}
	for _, a := range q.Answers {
		v.Answers = append(v.Answers, answerJSON{By: a.By.Name, At: jsonTime(a.At), Revealed: a.Revealed, Readable: a.Readable, Text: a.Text})
	}
	return v
}
