using AutoBuilder.Cli.Client;

namespace AutoBuilder.Cli.Tests.Client;

public sealed class ClientSettingsTests : IDisposable
{
    private readonly TempFolder _data = new();
    private readonly Dictionary<string, string> _environment = [];

    public void Dispose() => _data.Dispose();

    [Fact]
    public void Resolve_ServerOption_WinsOverEnvironment()
    {
        _environment[ClientSettings.ServerVariable] = "http://from-env:9000";
        _environment[ClientSettings.ApiKeyVariable] = "k";

        var settings = Resolve(server: "https://from-option:8443");

        Assert.Equal(new Uri("https://from-option:8443/"), settings.Server);
    }

    [Fact]
    public void Resolve_ServerVariableOnly_UsesIt()
    {
        _environment[ClientSettings.ServerVariable] = "http://from-env:9000";
        _environment[ClientSettings.ApiKeyVariable] = "k";

        Assert.Equal(new Uri("http://from-env:9000/"), Resolve().Server);
    }

    [Fact]
    public void Resolve_NoServerAnywhere_UsesLocalDefault()
    {
        _environment[ClientSettings.ApiKeyVariable] = "k";

        Assert.Equal(new Uri("http://127.0.0.1:8080/"), Resolve().Server);
    }

    [Fact]
    public void Resolve_ServerWithPathPrefix_KeepsPrefixWithTrailingSlash()
    {
        _environment[ClientSettings.ApiKeyVariable] = "k";

        var settings = Resolve(server: "https://example.test/autobuilder");

        Assert.Equal("https://example.test/autobuilder/api/v1/projects", new Uri(settings.Server, "api/v1/projects").ToString());
    }

    [Theory]
    [InlineData("not a url")]
    [InlineData("ftp://example.test")]
    public void Resolve_BadServer_ThrowsSettingsError(string server)
    {
        _environment[ClientSettings.ApiKeyVariable] = "k";

        Assert.Throws<ClientSettingsException>(() => Resolve(server: server));
    }

    [Fact]
    public void Resolve_ApiKeyVariable_WinsOverKeyFile()
    {
        _data.Write("admin.key", "from-file");
        _environment[ClientSettings.ApiKeyVariable] = "  from-env \n";

        Assert.Equal("from-env", Resolve(data: _data.Path).ApiKey);
    }

    [Fact]
    public void Resolve_DataOption_ReadsTrimmedAdminKey()
    {
        _data.Write("admin.key", "  abc123\n");

        Assert.Equal("abc123", Resolve(data: _data.Path).ApiKey);
    }

    [Fact]
    public void Resolve_DataOption_WinsOverDataVariable()
    {
        using var other = new TempFolder();
        other.Write("admin.key", "from-variable-folder");
        _data.Write("admin.key", "from-option-folder");
        _environment[ClientSettings.DataVariable] = other.Path;

        Assert.Equal("from-option-folder", Resolve(data: _data.Path).ApiKey);
    }

    [Fact]
    public void Resolve_DataVariableOnly_ReadsItsAdminKey()
    {
        _data.Write("admin.key", "from-variable-folder");
        _environment[ClientSettings.DataVariable] = _data.Path;

        Assert.Equal("from-variable-folder", Resolve().ApiKey);
    }

    [Fact]
    public void Resolve_NoKeyAnywhere_ThrowsTellingWhatToSet()
    {
        var error = Assert.Throws<ClientSettingsException>(() => Resolve(data: _data.Path));

        Assert.Contains(ClientSettings.ApiKeyVariable, error.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(_data.Path, "admin.key"), error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Resolve_EmptyKeyFile_ThrowsSaysEmpty()
    {
        _data.Write("admin.key", " \n");

        var error = Assert.Throws<ClientSettingsException>(() => Resolve(data: _data.Path));

        Assert.Contains("empty", error.Message, StringComparison.Ordinal);
    }

    private ClientSettings Resolve(string? server = null, string? data = null) =>
        ClientSettings.Resolve(server, data, name => _environment.GetValueOrDefault(name));
}
