package producer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/natch-io/natch/shared/batch"
)

// Task add result statuses (batch.TaskAddResult.Status).
const (
	AddSuccess     = "success"     // the task was added
	AddClientError = "clienterror" // the task was refused: fix it before retrying
	AddServerError = "servererror" // the add failed on the way or in the service: retry it
)

// collectionEnvelope is the JSON around the tasks of an addtaskcollection body.
const collectionEnvelope = len(`{"value":[]}`)

// addTasks adds tasks to a job through addtaskcollection for both clients:
// chunks of at most batch.MaxTasksPerCollection tasks whose body stays under
// maxBytes (batch.MaxCollectionBytes over REST; less over NATS, whose
// messages also carry the request envelope), up to parallel chunks in
// flight, one result per task in the order of tasks. Client.AddTasks
// documents what the results and the error mean.
func addTasks(ctx context.Context, t transport, jobID string, tasks []batch.Task, parallel, maxBytes int) ([]batch.TaskAddResult, error) {
	results := make([]batch.TaskAddResult, len(tasks))
	encoded := make([]json.RawMessage, len(tasks))
	for i := range tasks {
		b, err := jsonMarshal(&tasks[i])
		if err != nil {
			return nil, fmt.Errorf("add tasks: encode task %q: %w", tasks[i].ID, err)
		}
		encoded[i] = b
	}
	chunks, tooLarge := splitChunks(encoded, batch.MaxTasksPerCollection, maxBytes)
	for _, i := range tooLarge {
		results[i] = failedAdd(tasks[i].ID, batch.Errorf(http.StatusRequestEntityTooLarge, "RequestBodyTooLarge",
			"The task is %d bytes of JSON; an addtaskcollection request must stay under %d bytes.", len(encoded[i]), maxBytes))
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	sem := make(chan struct{}, max(parallel, 1))
	for n, chunk := range chunks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			for _, rest := range chunks[n:] {
				for _, i := range rest {
					results[i] = failedAdd(tasks[i].ID, ctx.Err())
				}
			}
			mu.Lock()
			firstErr = cmpErr(firstErr, ctx.Err())
			mu.Unlock()
			wg.Wait()
			return results, firstErr
		}
		wg.Go(func() {
			defer func() { <-sem }()
			err := addChunk(ctx, t, jobID, tasks, encoded, chunk, results)
			if err != nil {
				mu.Lock()
				firstErr = cmpErr(firstErr, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return results, firstErr
}

func cmpErr(first, err error) error {
	if first != nil {
		return first
	}
	return err
}

// addChunk sends one chunk and writes the results of its tasks (distinct
// indexes of results, so no lock is needed).
func addChunk(ctx context.Context, t transport, jobID string, tasks []batch.Task, encoded []json.RawMessage, chunk []int, results []batch.TaskAddResult) error {
	var body bytes.Buffer
	body.WriteString(`{"value":[`)
	for n, i := range chunk {
		if n > 0 {
			body.WriteByte(',')
		}
		body.Write(encoded[i])
	}
	body.WriteString(`]}`)
	var out page[batch.TaskAddResult]
	if err := t.roundTrip(ctx, ptr(opAddTaskCollection(jobID, body.Bytes())), &out); err != nil {
		for _, i := range chunk {
			results[i] = failedAdd(tasks[i].ID, err)
		}
		return err
	}
	// Results come in any order: match them to the tasks by id (ids are
	// case-insensitive; a repeated id takes the results in turn).
	byID := map[string][]int{}
	for _, i := range chunk {
		k := batch.Key(tasks[i].ID)
		byID[k] = append(byID[k], i)
	}
	for _, r := range out.Value {
		k := batch.Key(r.TaskID)
		if q := byID[k]; len(q) > 0 {
			results[q[0]] = r
			byID[k] = q[1:]
		}
	}
	for _, q := range byID {
		for _, i := range q {
			results[i] = failedAdd(tasks[i].ID, batch.Errorf(http.StatusInternalServerError, "InternalError",
				"The service returned no result for this task."))
		}
	}
	return nil
}

// splitChunks groups task indexes greedily, in order, into chunks of at
// most maxTasks whose collection body is under maxBytes. Tasks that cannot
// fit even alone are returned apart.
func splitChunks(encoded []json.RawMessage, maxTasks, maxBytes int) (chunks [][]int, tooLarge []int) {
	var cur []int
	size := collectionEnvelope
	for i, b := range encoded {
		if collectionEnvelope+len(b) >= maxBytes {
			tooLarge = append(tooLarge, i)
			continue
		}
		add := len(b)
		if len(cur) > 0 {
			add++ // comma
		}
		if len(cur) == maxTasks || size+add >= maxBytes {
			chunks = append(chunks, cur)
			cur, size, add = nil, collectionEnvelope, len(b)
		}
		cur = append(cur, i)
		size += add
	}
	if len(cur) > 0 {
		chunks = append(chunks, cur)
	}
	return chunks, tooLarge
}

// failedAdd is the result of a task that was not added because of err.
func failedAdd(taskID string, err error) batch.TaskAddResult {
	var e *batch.Error
	if !errors.As(err, &e) {
		e = &batch.Error{Status: http.StatusInternalServerError, Code: "RequestFailed", Message: err.Error()}
	}
	status := AddServerError
	if e.Status >= 400 && e.Status < 500 && e.Status != http.StatusTooManyRequests && e.Status != http.StatusRequestTimeout {
		status = AddClientError
	}
	return batch.TaskAddResult{Status: status, TaskID: taskID, Error: &batch.WireError{
		Code: e.Code, Message: batch.WireMessage{Lang: "en-US", Value: e.Message}, Values: e.Values}}
}

// AddError returns the error of a task add result as a *batch.Error, or nil
// when the task was added.
func AddError(r batch.TaskAddResult) *batch.Error {
	if r.Status == AddSuccess || r.Error == nil {
		return nil
	}
	status := http.StatusBadRequest
	if r.Status == AddServerError {
		status = http.StatusInternalServerError
	}
	return fromWire(status, r.Error)
}
