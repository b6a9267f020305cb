package worker

import (
	"context"
	"encoding/json"
	"errors"
	"strings"

	"github.com/nats-io/nats.go"

	"github.com/natch-io/natch/shared/batch"
	"github.com/natch-io/natch/shared/protocol"
)

// replyOverhead is room left for headers in a reply of MaxPayload bytes.
const replyOverhead = 4096

// handleCommand serves a node command (core NATS request/reply on
// topology.NodeSubject(account, node, command)).
func (w *Worker) handleCommand(m *nats.Msg) {
	cmd := m.Subject[strings.LastIndexByte(m.Subject, '.')+1:]
	if cmd == protocol.CmdJobRelease {
		w.cmdJobRelease(m) // replies when the release task has ended
		return
	}
	reply := nats.NewMsg(m.Reply)
	var err error
	switch cmd {
	case protocol.CmdTerminateTask:
		err = w.cmdTerminate(m.Data)
	case protocol.CmdFileStat, protocol.CmdFileRead, protocol.CmdFileList, protocol.CmdFileDelete:
		var req protocol.FileRequest
		if jerr := json.Unmarshal(m.Data, &req); jerr != nil {
			err = &cmdError{CodeInvalidInput, "The request body is not a valid file request: " + jerr.Error()}
			break
		}
		err = w.cmdFile(cmd, req, reply)
	case protocol.CmdScheduling:
		var req protocol.SchedulingRequest
		if err = decodeCommand(m.Data, &req); err == nil {
			err = w.cmdScheduling(req)
		}
	case protocol.CmdReboot:
		var req protocol.RebootRequest
		if err = decodeCommand(m.Data, &req); err == nil {
			err = w.cmdReboot(req)
		}
	case protocol.CmdUploadLogs:
		// An upload takes a while: it answers from the background, so that
		// the commands behind it (terminate, files) are not held up.
		var req protocol.UploadLogsRequest
		if err = decodeCommand(m.Data, &req); err != nil {
			break
		}
		if w.life.background(func(ctx context.Context) { w.respond(m, cmd, reply, w.cmdUploadLogs(ctx, req, reply)) }) {
			return
		}
		err = &cmdError{"OperationNotValidOnNode", "The node is stopping."}
	default:
		err = &cmdError{CodeInvalidInput, "Unknown node command " + cmd + "."}
	}
	w.respond(m, cmd, reply, err)
}

// respond sends a node command's reply, or its error.
func (w *Worker) respond(m *nats.Msg, cmd string, reply *nats.Msg, err error) {
	if err != nil {
		var ce *cmdError
		if !errors.As(err, &ce) {
			ce = &cmdError{"InternalError", err.Error()}
		}
		reply.Header = nats.Header{protocol.ErrorHeader: []string{ce.code}}
		reply.Data = []byte(ce.msg)
	}
	if m.Reply == "" {
		return
	}
	if err := m.RespondMsg(reply); err != nil {
		w.log.Warn("reply to node command", "command", cmd, "err", err)
	}
}

// cmdTerminate kills a task's process group if the node holds that
// job/task/attempt.
func (w *Worker) cmdTerminate(data []byte) error {
	var req protocol.TerminateTask
	if err := json.Unmarshal(data, &req); err != nil {
		return &cmdError{CodeInvalidInput, "The request body is not a valid terminate request: " + err.Error()}
	}
	if !w.terminate(req) {
		return &cmdError{CodeTaskNotFound, "The node is not running the specified task."}
	}
	return nil
}

// terminate ends the held task matching req and reports whether there was
// one. A task that has not started yet ends without starting; one that has
// already ended is left to report its result.
func (w *Worker) terminate(req protocol.TerminateTask) bool {
	job, tk := batch.Key(req.JobID), batch.Key(req.TaskID)
	why := &terminated{reason: req.Reason}
	w.mu.Lock()
	defer w.mu.Unlock()
	for t := range w.held {
		if t.tm.Attempt != req.Attempt || batch.Key(t.tm.JobID) != job || batch.Key(t.tm.Task.ID) != tk {
			continue
		}
		switch {
		case t.settling:
		case t.cancel != nil:
			t.cancel(why)
		default:
			t.pending = why
		}
		return true
	}
	return false
}

// cmdFile serves the file commands, filling reply.
func (w *Worker) cmdFile(cmd string, req protocol.FileRequest, reply *nats.Msg) error {
	switch cmd {
	case protocol.CmdFileStat:
		fi, err := w.fileStat(req)
		if err != nil {
			return err
		}
		reply.Data, err = json.Marshal(fi)
		return err
	case protocol.CmdFileDelete:
		return w.fileDelete(req)
	case protocol.CmdFileRead:
		fi, data, err := w.fileRead(req)
		if err != nil {
			return err
		}
		fileHeaders(reply.Header, fi, req.Offset)
		reply.Data = data
		return nil
	default:
		list, err := w.fileList(req)
		if err != nil {
			return err
		}
		data, truncated, err := encodeList(list, int(w.nc.MaxPayload())-replyOverhead)
		if err != nil {
			return err
		}
		if truncated {
			reply.Header.Set(HeaderListTruncated, "true")
		}
		reply.Data = data
		return nil
	}
}

// decodeCommand decodes a node command's JSON body.
func decodeCommand(data []byte, v any) error {
	if err := json.Unmarshal(data, v); err != nil {
		return &cmdError{CodeInvalidInput, "The request body is not a valid node command: " + err.Error()}
	}
	return nil
}
