using AutoBuilder.Server.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace AutoBuilder.Server.Tests.Hosting;

public sealed class RedactingConsoleFormatterTests
{
    [Fact]
    public void Write_MessageAndExceptionWithSecrets_MasksThemOnOneLine()
    {
        const string token = "0123456789abcdef0123456789abcdef.2.MACsecretMACsecret";
        var exception = new HttpRequestException("GET http://127.0.0.1:8080/blobs/uploads/p/s/source.zip?sp=r&exp=1&sig=SIGsecret failed");
        var entry = new LogEntry<string>(LogLevel.Error, "Test", new EventId(7), $"key abk_KEYsecret token {token}", exception, (s, _) => s);
        using var writer = new StringWriter();

        new RedactingConsoleFormatter().Write(entry, null, writer);

        var line = writer.ToString();
        Assert.Contains("fail: Test[7] key abk_*** token 0123456789abcdef0123456789abcdef.2.***", line, StringComparison.Ordinal);
        Assert.Contains("sig=*** failed", line, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", line, StringComparison.Ordinal);
        Assert.Equal(1, line.Count(c => c == '\n'));
    }
}
