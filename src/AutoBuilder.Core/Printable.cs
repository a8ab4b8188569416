using System.Globalization;
using System.Text;

namespace AutoBuilder.Core;

/// <summary>Untrusted text shown in a message or log line: control and format characters escaped, length capped.</summary>
public static class Printable
{
    /// <summary>
    /// "1.0.0\n" becomes "1.0.0\\n", so a refused value is named as it is (a trailing line feed stays visible) and
    /// cannot start a line of its own or reorder the text around it (bidi controls).
    /// </summary>
    public static string Of(string? value, int maxLength = 200)
    {
        if (value is null)
        {
            return "";
        }

        var text = new StringBuilder(Math.Min(value.Length, maxLength) + 8);
        foreach (var c in value.AsSpan(0, Math.Min(value.Length, maxLength)))
        {
            text.Append(c switch
            {
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                '\0' => "\\0",
                _ when char.IsControl(c) || char.GetUnicodeCategory(c) == UnicodeCategory.Format => $"\\u{(int)c:X4}",
                _ => c.ToString(),
            });
        }

        return value.Length > maxLength ? text.Append('…').ToString() : text.ToString();
    }
}
