package batch

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestValidatePackageReferences(t *testing.T) {
	t.Parallel()
	many := make([]ApplicationPackageReference, MaxPackageReferences+1)
	for i := range many {
		many[i] = ApplicationPackageReference{ApplicationID: fmt.Sprintf("app%d", i)}
	}
	tests := []struct {
		name     string
		refs     []ApplicationPackageReference
		wantCode string
		wantProp string
	}{
		{name: "None"},
		{name: "Valid", refs: []ApplicationPackageReference{{ApplicationID: "blender", Version: "2.79-rc_1"}, {ApplicationID: "ffmpeg"}}},
		{name: "MissingID", refs: []ApplicationPackageReference{{Version: "1"}},
			wantCode: "MissingRequiredProperty", wantProp: "applicationPackageReferences[0].applicationId"},
		{name: "BadID", refs: []ApplicationPackageReference{{ApplicationID: "a.b"}},
			wantCode: "InvalidPropertyValue", wantProp: "applicationPackageReferences[0].applicationId"},
		{name: "BadVersion", refs: []ApplicationPackageReference{{ApplicationID: "a", Version: "../1"}},
			wantCode: "InvalidPropertyValue", wantProp: "applicationPackageReferences[0].version"},
		{name: "Duplicate", refs: []ApplicationPackageReference{{ApplicationID: "a"}, {ApplicationID: "A", Version: "1"}},
			wantCode: "InvalidPropertyValue", wantProp: "applicationPackageReferences[1].applicationId"},
		{name: "TooMany", refs: many, wantCode: "InvalidPropertyValue", wantProp: "applicationPackageReferences"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			err := ValidatePackageReferences("applicationPackageReferences", tt.refs)
			if tt.wantCode == "" {
				require.NoError(t, err)
				return
			}
			var e *Error
			require.ErrorAs(t, err, &e)
			require.Equal(t, tt.wantCode, e.Code)
			require.Equal(t, tt.wantProp, e.Value("PropertyName"))
		})
	}
}
