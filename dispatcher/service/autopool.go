package service

import (
	"context"
	"errors"

	"github.com/natch-io/natch/shared/batch"
)

// ensureAutoPool creates the auto pool id from its specification, or
// returns it if it exists already (a schedule's shared pool, or a job
// created again by another dispatcher).
func (s *Service) ensureAutoPool(ctx context.Context, account, id string, a *batch.AutoPoolSpecification) (*batch.Pool, error) {
	p := a.Pool.Pool(id)
	created, err := s.AddPool(ctx, account, &p)
	if errors.Is(err, batch.ErrPoolExists) {
		return s.GetPool(ctx, account, id)
	}
	return created, err
}

// endAutoPool deletes an auto pool whose job or schedule ended, unless its
// specification keeps it alive.
func (s *Service) endAutoPool(ctx context.Context, account, id string, a *batch.AutoPoolSpecification) {
	if a.KeepsPool() {
		return
	}
	if err := ignoreConflict(s.DeletePool(ctx, account, id, Condition{})); err != nil {
		s.log.WarnContext(ctx, "delete an auto pool", "pool", id, "err", err)
	}
}
