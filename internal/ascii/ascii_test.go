package ascii

import "testing"

func TestEqualFold(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want bool
	}{
		{"CREATED", "created", true},
		{"In_Progress", "IN_PROGRESS", true},
		{"hıgh", "HIGH", false},
		{"ＨＩＧＨ", "HIGH", false},
		{"OPEN", "OPEN ", false},
		{"", "", true},
	} {
		if got := EqualFold(tt.a, tt.b); got != tt.want {
			t.Errorf("EqualFold(%q, %q) = %v, want %v", tt.a, tt.b, got, tt.want)
		}
	}
}

func TestLower(t *testing.T) {
	for in, want := range map[string]string{
		"Production":  "production",
		"productİon":  "productİon",
		"staging":     "staging",
		"RESTRICTED-": "restricted-",
	} {
		if got := Lower(in); got != want {
			t.Errorf("Lower(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestVisible(t *testing.T) {
	for in, want := range map[string]bool{
		"payments-team@example.com": true,
		"Ünal":                      true,
		"\u200b":                    false,
		"team\u202e":                false,
		"a\x00b":                    false,
		"---":                       false,
		"":                          false,
		" ":                         false,
	} {
		if got := Visible(in); got != want {
			t.Errorf("Visible(%q) = %v, want %v", in, got, want)
		}
	}
}
